"""The peer: HealthChain (PyPI `healthchain` 0.16.1, the Python CDS Hooks framework), one hook answering one card.

This is what a hospital could run instead of this service with HealthChain as shipped: `HealthChainAPI` with its
defaults (event system, CORS), a `CDSHooksService` whose handler gets the request parsed into HealthChain's own
`CDSRequest` model and answers one card, served like `cds-service serve` (uvicorn, one worker, the service's event
loop, which `bench.run` passes, httptools, the same JSON-lines log format at `info`). It runs in its own virtual
environment (bench/.peer-venv, made by `bench.run`), because HealthChain pins an older FastAPI than the service's;
`cds_service.logs` is imported from the source tree for the log format and needs nothing beyond orjson.
"""

import argparse

import uvicorn
from healthchain.gateway import CDSHooksService, HealthChainAPI
from healthchain.models.requests.cdsrequest import CDSRequest
from healthchain.models.responses.cdsresponse import CDSResponse

from cds_service.logs import uvicorn_log_config

# The routes the bench calls, /cds/cds-services/<id>, for the two hooks it sends.
SERVICES = {"order-select": "imatinib-order-select", "order-sign": "imatinib-order-sign"}


def one_card(request: CDSRequest) -> CDSResponse:
    """One card naming the hook: the peer parses the request and answers; no clinical evaluation."""
    return CDSResponse(cards=[{
        "summary": f"{request.hook}: imatinib ordered",
        "indicator": "info",
        "source": {"label": "HealthChain peer (bench)"},
    }])


def healthchain_app() -> HealthChainAPI:
    app = HealthChainAPI()
    cds = CDSHooksService()
    for hook, service_id in SERVICES.items():
        cds.hook(hook, id=service_id)(one_card)
    app.register_service(cds)
    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--loop", default="asyncio", help="the event loop the service is served with")
    args = parser.parse_args()
    uvicorn.run("bench.healthchain_app:healthchain_app", factory=True, host="127.0.0.1", port=args.port, workers=1,
                loop=args.loop, http="httptools", log_level="info", log_config=uvicorn_log_config("info"),
                proxy_headers=True)
