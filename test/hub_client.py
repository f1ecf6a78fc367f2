"""What the hub tests do as a signed-in user would, over the user's own server's API (run with the hub's Python).

  hub_client.py terminal SERVER_URL TOKEN COMMAND [TIMEOUT]
      opens a Lab terminal (POST api/terminals, then its websocket, as JupyterLab does), types COMMAND,
      prints what the terminal shows until the command ends, then "EXIT <status>"; closes the terminal.
  hub_client.py execute SERVER_URL TOKEN CODE [TIMEOUT]
      starts a tslab kernel (POST api/kernels), runs CODE over the kernel's websocket, prints its
      output; leaves the kernel running and prints "KERNEL <id>".

  hub_client.py logout HUB_URL USER PASSWORD
      logs in on the hub's login page (a cookie jar, as a browser), opens the user's server, keeps a
      copy of every cookie, logs out, then tries the saved copies; prints "LOGIN <url>", "SERVER <status>",
      "LOGOUT <url>", "SAVED HOME <url>", "SAVED SERVER <url> <status>".

TOKEN is the user's server's hub token (the one a student's terminal holds in JUPYTERHUB_API_TOKEN);
it goes in a header (JupyterHub does not take tokens in URLs).
"""

import asyncio
import json
import re
import sys
import uuid

from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.websocket import websocket_connect


async def api(server: str, token: str, method: str, path: str, body=None) -> dict:
    res = await AsyncHTTPClient().fetch(HTTPRequest(
        server.rstrip("/") + "/" + path, method=method, headers={"Authorization": "token " + token},
        body=json.dumps(body) if body is not None else (None if method in ("GET", "DELETE") else "")))
    return json.loads(res.body) if res.body else {}


def ws_url(server: str, path: str) -> str:
    return server.rstrip("/").replace("http", "ws", 1) + "/" + path


async def terminal(server: str, token: str, command: str, timeout: float) -> int:
    name = (await api(server, token, "POST", "api/terminals"))["name"]
    ws = await websocket_connect(HTTPRequest(ws_url(server, "terminals/websocket/" + name),
                                             headers={"Authorization": "token " + token}))
    marker = "__done_%s__" % uuid.uuid4().hex[:8]
    # (the marker is split in what is typed, so only the command's own end prints it whole)
    await ws.write_message(json.dumps(["stdin", "%s; echo %s_$?_end\r" % (command, marker[:6] + "''" + marker[6:])]))
    shown, status = "", None
    deadline = asyncio.get_running_loop().time() + timeout
    while status is None:
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            break
        try:
            message = await asyncio.wait_for(ws.read_message(), left)
        except asyncio.TimeoutError:
            break
        if message is None:
            break
        kind, *rest = json.loads(message)
        if kind == "stdout":
            shown += rest[0]
            found = re.search(re.escape(marker) + r"_(\d+)_end", shown)
            if found:
                status = int(found.group(1))
                shown = shown[:found.start()]
    ws.close()
    await api(server, token, "DELETE", "api/terminals/" + name)
    print(re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]|\x1b\][^\x07]*\x07|\r", "", shown))
    print("EXIT %s" % ("timeout" if status is None else status))
    return 0


async def execute(server: str, token: str, code: str, timeout: float) -> int:
    kernel = (await api(server, token, "POST", "api/kernels", {"name": "tslab"}))["id"]
    ws = await websocket_connect(HTTPRequest(ws_url(server, "api/kernels/%s/channels" % kernel),
                                             headers={"Authorization": "token " + token}))
    msg_id = uuid.uuid4().hex
    await ws.write_message(json.dumps({
        "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "", "session": uuid.uuid4().hex,
                   "version": "5.3"},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": code, "silent": False, "store_history": True, "allow_stdin": False}}))
    out = []
    while True:
        message = await asyncio.wait_for(ws.read_message(), timeout)
        if message is None:
            break
        if isinstance(message, bytes):
            continue
        m = json.loads(message)
        if m.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        if m["msg_type"] == "stream":
            out.append(m["content"]["text"])
        if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
            break
    ws.close()
    print("".join(out))
    print("KERNEL %s" % kernel)
    return 0


def logout(base: str, user: str, password: str) -> int:
    import copy
    import http.cookiejar
    import urllib.error
    import urllib.parse
    import urllib.request

    def opener(jar):
        return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))

    def visit(op, url, data=None):
        try:
            res = op.open(base + url, data=data, timeout=180)
            return res.geturl(), res.status
        except urllib.error.HTTPError as err:
            return err.geturl(), err.code

    jar = http.cookiejar.CookieJar()
    op = opener(jar)
    page = op.open(base + "/hub/login", timeout=60).read().decode()
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode({"username": user, "password": password, "_xsrf": xsrf}).encode()
    print("LOGIN %s" % visit(op, "/hub/login?next=", form)[0])
    print("SERVER %s" % visit(op, "/user/%s/api/contents" % user)[1])
    saved = [copy.copy(c) for c in jar]
    print("LOGOUT %s" % visit(op, "/hub/logout")[0])
    stale = http.cookiejar.CookieJar()
    for c in saved:
        stale.set_cookie(c)
    print("SAVED HOME %s" % visit(opener(stale), "/hub/home")[0])
    print("SAVED SERVER %s %s" % visit(opener(stale), "/user/%s/api/contents" % user))
    return 0


def main(argv: list) -> int:
    if argv[0] == "logout":
        return logout(*argv[1:4])
    what, server, token, text = argv[:4]
    timeout = float(argv[4]) if len(argv) > 4 else 120
    run = {"terminal": terminal, "execute": execute}[what]
    return asyncio.run(run(server, token, text, timeout))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
