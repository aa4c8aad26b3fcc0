"""The review's web form ("Select your clinical scenario"): four choices, read into the guide's `Scenario`.

/guide asks the four questions; the decision-guide card answers them from the record and links to the page with
its answers set. Both go through `guide_row`, so the page shows the card's row. Answers are categories only (a
cancer, a stage, a variant of the knowledge base, a kind of prior therapy): never an identifier, a name or a date.
"""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlencode

from cds_service.facts.genomics import parse_protein_change
from cds_service.knowledge import Knowledge
from cds_service.knowledge.models import GuideRow, VariantMeaning
from cds_service.rules.guide import GuideInputs, Scenario, guide_row

# The question names, in the form's order: also the query parameters of /guide.
QUESTIONS = ("cancer", "stage", "mutation", "prior")
NOT_STATED = ""
NO_MUTATION = "none"
# How the cancers the guide has rows for are named on the form (abbreviation first, as clinicians say them).
_ABBREVIATIONS = {"cml": "CML", "gist": "GIST"}


@dataclass(frozen=True, slots=True)
class Choice:
    value: str
    label: str
    cancers: frozenset[str] = frozenset()  # where the choice applies; empty: every cancer
    group: str = ""  # an optgroup label


@dataclass(frozen=True, slots=True)
class PriorChoice:
    """Prior therapy as the form asks it: the guide's category, with the CML response when it is known."""

    value: str
    label: str
    prior: str
    response: str = "unknown"
    cancers: frozenset[str] = frozenset()


# The guide's prior-therapy categories (none | imatinib | second-generation) and, for imatinib, the ELN 2020
# response categories the CML rows use (early | optimal | warning | failure; "unknown" when not assessed).
_CML = frozenset({"cml"})
PRIOR_CHOICES = (
    PriorChoice("none", "none: no earlier imatinib or second-generation TKI", "none"),
    PriorChoice("imatinib", "imatinib, response not assessed", "imatinib"),
    PriorChoice("imatinib-early", "imatinib, before the first response milestone", "imatinib", "early", _CML),
    PriorChoice("imatinib-optimal", "imatinib, optimal response (ELN 2020)", "imatinib", "optimal", _CML),
    PriorChoice("imatinib-warning", "imatinib, warning response (ELN 2020)", "imatinib", "warning", _CML),
    PriorChoice("imatinib-failure", "imatinib failure", "imatinib", "failure"),
    PriorChoice("second-generation", "a second-generation TKI", "second-generation"),
)
_PRIOR_BY_VALUE = {choice.value: choice for choice in PRIOR_CHOICES}


class InvalidAnswer(ValueError):
    """An answer the form does not offer: the page answers 400 naming the question and what it accepts."""


@dataclass(frozen=True, slots=True)
class Form:
    cancers: tuple[Choice, ...]
    stages: tuple[Choice, ...]
    mutations: tuple[Choice, ...]
    priors: tuple[PriorChoice, ...]

    def values(self, question: str) -> tuple[str, ...]:
        choices: dict[str, tuple[Choice, ...] | tuple[PriorChoice, ...]] = {
            "cancer": self.cancers, "stage": self.stages, "mutation": self.mutations, "prior": self.priors,
        }
        return tuple(c.value for c in choices[question])


def variant_label(meaning: VariantMeaning) -> str:
    """"ABL1 T315I", "KIT exon 17", "PDGFRA D842V (exon 18)": the words a report uses."""
    change = parse_protein_change(meaning.protein) if meaning.protein else None
    if change and meaning.exon:
        return f"{meaning.gene} {change.short} (exon {meaning.exon})"
    if change:
        return f"{meaning.gene} {change.short}"
    if meaning.exon:
        return f"{meaning.gene} exon {meaning.exon}"
    return f"{meaning.gene}, another or unspecified mutation"


def guide_form(knowledge: Knowledge) -> Form:
    """The form's choices, all from the knowledge base: the cancers the guide has rows for, their stages, the
    variants that apply to them, and the prior-therapy categories."""
    cancer_ids = list(dict.fromkeys(row.cancer for row in knowledge.combinations.guide))
    labels = {group.id: group.label for group in knowledge.conditions}
    cancers = tuple(
        Choice(c, f"{_ABBREVIATIONS.get(c, c.upper())} ({labels.get(c, c)})", frozenset({c})) for c in cancer_ids
    )
    stages = [Choice(NOT_STATED, "not stated")]
    for group in knowledge.conditions:
        if group.phase and group.id in cancer_ids and all(s.value != group.phase for s in stages):
            stages.append(Choice(group.phase, f"{group.phase} phase", frozenset({group.id}), _group(group.id)))
    for stage in knowledge.combinations.stages.values():
        stages.append(Choice(stage.phase, stage.label, frozenset({stage.cancer}), _group(stage.cancer)))
    mutations = [Choice(NO_MUTATION, "none detected, or not tested")]
    for meaning in knowledge.genomics.variants:
        applies = frozenset(meaning.cancers) & set(cancer_ids)
        if applies:
            mutations.append(Choice(meaning.id, variant_label(meaning), applies, meaning.gene))
    return Form(cancers, tuple(stages), tuple(mutations), PRIOR_CHOICES)


def _group(cancer: str) -> str:
    return _ABBREVIATIONS.get(cancer, cancer.upper())


@dataclass(frozen=True, slots=True)
class Reading:
    """What the page makes of the answers: the scenario, and what it set aside (a choice for another cancer)."""

    answers: dict[str, str]
    scenario: Scenario | None  # None until a cancer is chosen
    meaning: VariantMeaning | None = None
    set_aside: tuple[str, ...] = field(default=())


def read_answers(query: Mapping[str, str], knowledge: Knowledge) -> Reading:
    """The form's answers as a scenario; an answer the form does not offer raises `InvalidAnswer`."""
    form = guide_form(knowledge)
    answers = {q: query.get(q, NOT_STATED).strip() for q in QUESTIONS}
    answers["mutation"] = answers["mutation"] or NO_MUTATION  # as on the card: no variant result reads as none
    for question in QUESTIONS:
        allowed = form.values(question)
        if answers[question] not in allowed and answers[question] != NOT_STATED:
            shown = ", ".join(repr(v) for v in allowed if v)
            raise InvalidAnswer(f"'{question}' must be one of {shown}; got {answers[question][:40]!r}.")
    cancer = answers["cancer"]
    if not cancer:
        return Reading(answers, None)
    set_aside = []
    stage = next(c for c in form.stages if c.value == answers["stage"])
    phase = stage.value or None
    if stage.cancers and cancer not in stage.cancers:
        set_aside.append(f"The stage '{stage.label}' is not a stage of {cancer.upper()}; it is not counted.")
        phase = None
    meaning = next((v for v in knowledge.genomics.variants if v.id == answers["mutation"]), None)
    if meaning is not None and cancer not in meaning.cancers:
        set_aside.append(
            f"{variant_label(meaning)} is not read for {cancer.upper()} in the knowledge base (nor on the card); "
            "it is counted as no mutation."
        )
        meaning = None
    prior = _PRIOR_BY_VALUE.get(answers["prior"])
    scenario = Scenario(
        cancer=cancer,
        phase=phase,
        mutations=frozenset({meaning.category}) if meaning else frozenset({NO_MUTATION}),
        prior=frozenset({prior.prior}) if prior else frozenset(),
        response=prior.response if prior else "unknown",
    )
    return Reading(answers, scenario, meaning, tuple(set_aside))


def _candidate_answers(inputs: GuideInputs) -> Iterator[dict[str, str]]:
    """The patient's answers, one value per question (the record can hold several variants or prior therapies)."""
    mutations = [meaning.id for _, meaning in inputs.variants] or [NO_MUTATION]
    response = inputs.response.category if inputs.response else "unknown"
    priors = []
    for category in sorted(inputs.therapy.categories):
        if category == "imatinib":
            choice = _PRIOR_BY_VALUE.get(f"imatinib-{response}")
            fits = choice is not None and (not choice.cancers or inputs.cancer in choice.cancers)
            priors.append(choice.value if choice is not None and fits else "imatinib")
        else:
            priors.append(category)
    for mutation in mutations:
        for prior in priors or [NOT_STATED]:
            yield {"cancer": inputs.cancer, "stage": inputs.diagnosis.group.phase or NOT_STATED,
                   "mutation": mutation, "prior": prior}


def answers_for(inputs: GuideInputs, row: GuideRow, knowledge: Knowledge) -> dict[str, str]:
    """The four answers the card links /guide with: the patient's, chosen so that the page shows the card's row."""
    candidates = list(_candidate_answers(inputs))
    for answers in candidates:
        scenario = read_answers(answers, knowledge).scenario
        if scenario is not None and guide_row(scenario, knowledge) == row:
            return answers
    return candidates[0]


def guide_query(answers: Mapping[str, str]) -> str:
    """The query string of /guide for these answers (categories only)."""
    return urlencode({q: answers[q] for q in QUESTIONS if answers.get(q)})
