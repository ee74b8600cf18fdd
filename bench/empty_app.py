"""The framework ceiling: the smallest FastAPI app that does what a send does at the
edge (read a small JSON body, answer a small JSON), served the way ``jooksms serve``
serves: uvicorn, uvloop, httptools, no access log, one process.

Run: ``.venv/bin/python bench/empty_app.py --port 8100``
"""

from __future__ import annotations

import argparse

import orjson
import uvicorn
from fastapi import FastAPI, Request, Response

app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)


@app.post("/api/v1/sms")
async def send(request: Request) -> Response:
    payload = orjson.loads(await request.body())
    body = {"result": "ok", "data": {"number": payload.get("to"), "status": "queued"}}
    return Response(orjson.dumps(body), media_type="application/json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    args = parser.parse_args()
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http="httptools",
    )


if __name__ == "__main__":
    main()
