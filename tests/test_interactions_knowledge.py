"""interactions.toml is checked at load like every knowledge file: every citation, at any depth, and every agent."""

import re
import shutil
from pathlib import Path

import pytest

from cds_service.knowledge import load_knowledge
from cds_service.knowledge.loader import BUNDLED_DIR, KnowledgeError


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        # A source deep inside an alternative's option, a field no hand-written list names.
        ('sources = ["fonkem-2013", "froscher-2016"]', 'sources = ["fonkem-2013", "nowhere"]',
         "interactions.toml.alternatives.enzyme-inducing-antiepileptics.options[0].sources: cites unknown source "
         "'nowhere'"),
        ('trough_note_sources = ["eastern-health-2297"', 'trough_note_sources = ["nowhere"',
         "interactions.toml.de_induction.trough_note_sources: cites unknown source 'nowhere'"),
        ('for = ["rifampin"]', 'for = ["rifampicin"]',
         "[alternatives.rifampicin-tuberculosis]: 'rifampicin' is not an inducer"),
        ('agent = "rifabutin"', 'agent = "rifabutine"', "'rifabutine' is not an ingredient"),
        ('measured = "ketoconazole"', 'measured = "amoxicillin"', "[inhibition].measured is not one of"),
        ("[inhibitors.tucatinib]", "[inhibitors.rifampin]", "['rifampin'] are both inhibitors and inducers"),
        ('members = ["dasatinib",', 'members = ["dasatanib",', "'dasatanib' is not an ingredient"),
    ],
)
def test_a_broken_interactions_file_is_reported_by_entry(tmp_path: Path, old, new, message):
    folder = tmp_path / "kb"
    shutil.copytree(BUNDLED_DIR, folder)
    path = folder / "interactions.toml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(KnowledgeError, match=re.escape(message)):
        load_knowledge(folder)


def test_every_alternative_names_its_source_and_status(knowledge):
    for alternatives in knowledge.interactions.alternatives.values():
        for option in alternatives.options:
            assert option.sources and option.status in ("V", "V2")
