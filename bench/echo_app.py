"""The baseline: a bare FastAPI app that answers a POST with its own body, served like `cds-service serve`.

Whatever the service costs above this is ours to explain: same framework, same server, same request bytes.
"""

import argparse

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import Response

from cds_service.cli import uvicorn_options

app = FastAPI()


@app.post("/echo/{name}")
async def echo(name: str, request: Request) -> Response:
    return Response(await request.body(), media_type="application/json")


@app.get("/healthz")
async def healthz() -> Response:
    return Response(b'{"status": "ok"}', media_type="application/json")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    uvicorn.run("bench.echo_app:app", host="127.0.0.1", port=parser.parse_args().port, workers=1, **uvicorn_options())
