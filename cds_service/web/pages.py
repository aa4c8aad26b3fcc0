"""Pages a clinician opens from a card: the decision guide (/guide) and the evidence per card topic (/evidence),
and the CDS committee's dashboard (/dashboard, web/dashboard.py), served with their own assets under /static.

Plain server-rendered HTML (Jinja2, autoescaped) that works without script, with the keyboard and a screen
reader, in a 400 px EHR side panel as on a desktop. Nothing is loaded from outside the service: hospital networks
may have no internet, and a page must not tell a third party which patient scenario is being looked at.
"""

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from cds_service.gather.trials import study_url
from cds_service.knowledge import Knowledge
from cds_service.knowledge.models import GuideRow
from cds_service.rules.common import agent_names
from cds_service.rules.guide import (
    FITTING_EVIDENCE_LEVELS,
    Scenario,
    guide_row,
    monitoring_notes,
    scenario_trials,
    strategy_evidence,
)
from cds_service.rules.guide_form import InvalidAnswer, Reading, guide_form, read_answers
from cds_service.settings import Settings
from cds_service.web.dashboard import dashboard_page
from cds_service.web.evidence import topic, topic_codes

HERE = Path(__file__).resolve().parent
# Only the service's own origin: no CDN, no inline script (chart data travels as JSON, read by a local script).
# No frame-ancestors: an EHR may show a card link in a frame of its own.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'self'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def templates() -> Environment:
    return Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _cited(knowledge: Knowledge, source_ids: list[str]) -> list[dict[str, str]]:
    return [
        {"id": s, "citation": knowledge.sources[s].citation, "status": knowledge.sources[s].status,
         "url": knowledge.sources[s].url or ""}
        for s in dict.fromkeys(source_ids)
    ]


def _unused_questions(cancer: str, knowledge: Knowledge) -> list[str]:
    """Questions no row or trial of this cancer depends on: the page says that choosing them changes nothing."""
    entries = [*(r for r in knowledge.combinations.guide if r.cancer == cancer),
               *(t for t in knowledge.combinations.trials if t.cancer == cancer)]
    unused = []
    if all(getattr(e, "phases", None) is None for e in entries):
        unused.append("disease stage")
    if all(r.responses is None for r in knowledge.combinations.guide if r.cancer == cancer):
        unused.append("the response to imatinib")
    return unused


def guide_view(reading: Reading, knowledge: Knowledge) -> dict[str, Any]:
    """Everything the guide page shows for these answers, from the knowledge base."""
    scenario: Scenario | None = reading.scenario
    view: dict[str, Any] = {"form": guide_form(knowledge), "answers": reading.answers, "notices": reading.set_aside}
    if scenario is None:
        return view
    row: GuideRow | None = guide_row(scenario, knowledge)
    view["unused"] = _unused_questions(scenario.cancer, knowledge)
    view["row"] = row
    if row is None:
        return view
    combos = knowledge.combinations
    view["row_sources"] = _cited(knowledge, row.sources)
    meaning = reading.meaning
    if meaning is not None:
        view["variant"] = {
            "note": meaning.note, "status": meaning.status, "sources": _cited(knowledge, meaning.sources),
            "prefer": agent_names(knowledge, meaning.prefer), "prefer_status": meaning.prefer_status,
            "prefer_kind": "lists no concern for" if meaning.prefer_status == "derived" else "prefers",
            "avoid": agent_names(knowledge, meaning.avoid),
        }
    # Each strategy with the evidence that fits these answers only (a trial of another population lends none).
    evidence = [strategy_evidence(s, scenario, knowledge) for s in row.strategies]
    strategies = [e.strategy for e in evidence if e.shown]
    view["strategies"] = [
        {
            "label": e.strategy.label, "level": FITTING_EVIDENCE_LEVELS[e.level or "review-only"],
            "evidence": " ".join(
                [f"{t.nct} enrolled {t.population}." for t in e.trials]
                + [f"Not counted: {f.why_not()}." for f in e.left_out if f.trial.cancer == scenario.cancer]
            ),
            "status": ", ".join(dict.fromkeys(t.population_status for t in e.trials)) or "U",
            "sources": _cited(knowledge, [src for t in e.trials for src in (*t.sources, *t.population_sources)]
                              + (e.strategy.claim_sources if e.claim_applies else [])),
            "claim": e.strategy.claim if e.claim_applies else None,
        }
        for e in evidence if e.shown
    ]
    view["left_out"] = [
        {"label": e.strategy.label, "why": "; ".join(f.why_not() for f in e.left_out)}
        for e in evidence if not e.shown
    ]
    view["trials"] = [
        {"nct": t.nct, "url": study_url(t.nct), "name": t.name, "summary": t.summary,
         "registry_status": t.registry_status, "status": t.status, "sources": _cited(knowledge, t.sources)}
        for t in scenario_trials(scenario, row, knowledge)
    ]
    notes = monitoring_notes(row.strategies, scenario.cancer, knowledge)
    view["schedule"] = [n for n in notes if n.kind == "schedule"]
    view["toxicities"] = [n for n in notes if n.kind == "toxicity"]
    safety = combos.ibd_with_pd1
    view["safety"] = safety if any(safety.class_ in s.classes for s in strategies) else None
    view["monitoring_sources"] = _cited(
        knowledge, [src for n in notes for src in n.sources] + (view["safety"].sources if view["safety"] else [])
    )
    return view


def page_routes(knowledge: Knowledge, settings: Settings) -> list[BaseRoute]:
    """The pages and their assets, as Starlette routes for `create_app` to add."""
    env = templates()
    env.globals["knowledge_version"] = knowledge.version

    def render(name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        return HTMLResponse(env.get_template(name).render(**context), status_code=status_code, headers=PAGE_HEADERS)

    async def guide(request: Request) -> HTMLResponse:
        try:
            reading = read_answers(request.query_params, knowledge)
        except InvalidAnswer as exc:
            return render("error.html", 400, title="Not a choice the guide offers", message=str(exc))
        return render("guide.html", **guide_view(reading, knowledge))

    async def evidence_index(_request: Request) -> HTMLResponse:
        topics = [found for code in topic_codes(knowledge) if (found := topic(code, knowledge)) is not None]
        return render("evidence_index.html", topics=topics, manifest=knowledge.manifest)

    async def evidence(request: Request) -> HTMLResponse:
        code: str = request.path_params["topic"]
        found = topic(code, knowledge)
        if found is None:
            return render("error.html", 404, title="No such card topic",
                          message=f"No card carries the topic '{code[:80]}'.",
                          links=[{"url": "/evidence", "label": "Every card topic and its evidence"}])
        return render("evidence.html", topic=found, manifest=knowledge.manifest)

    async def dashboard(request: Request) -> HTMLResponse:
        return await dashboard_page(request, settings, render)

    served_dashboard = settings.dashboard_password is not None  # off means not served at all
    env.globals["dashboard_served"] = served_dashboard
    return [
        *([Route("/dashboard", dashboard, methods=["GET"])] if served_dashboard else []),
        Route("/guide", guide, methods=["GET"]),
        Route("/evidence", evidence_index, methods=["GET"]),
        Route("/evidence/{topic}", evidence, methods=["GET"]),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
