"""Rules: pure functions from facts and knowledge to cards. `RULES` is the registry the engine runs, in order."""

from collections.abc import Callable

from cds_service.facts import PatientFacts
from cds_service.knowledge import Knowledge
from cds_service.protocol.cards import Card

Rule = Callable[[PatientFacts, Knowledge], list[Card]]


def default_rules() -> tuple[Rule, ...]:
    from cds_service.rules.combinations import combination_cards, pd1_with_ibd_cards
    from cds_service.rules.de_induction import de_induction_cards
    from cds_service.rules.dose_check import dose_check_cards
    from cds_service.rules.duplicate_tkis import duplicate_tki_cards
    from cds_service.rules.guide import decision_guide_cards
    from cds_service.rules.inducers import inducer_interaction_cards
    from cds_service.rules.inhibitors import inhibitor_interaction_cards
    from cds_service.rules.tdm import tdm_cards
    from cds_service.rules.variants import variant_cards

    return (
        inducer_interaction_cards,
        inhibitor_interaction_cards,
        de_induction_cards,
        tdm_cards,
        dose_check_cards,
        variant_cards,
        pd1_with_ibd_cards,
        duplicate_tki_cards,
        combination_cards,
        decision_guide_cards,
    )
