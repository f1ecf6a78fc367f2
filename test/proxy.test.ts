// Downloads honour HTTPS_PROXY / HTTP_PROXY / NO_PROXY, as curl, pip and npm
// do: a forward proxy on 127.0.0.1 (absolute-form GET for http, CONNECT tunnels
// for https) stands between the downloader and mirrors on 127.0.0.1, one of
// them HTTPS with a certificate made for the test. Each download runs in a
// fresh Node process, the way users start one, with the variables set.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as http from "http";
import * as https from "https";
import * as net from "net";
import * as path from "path";
import { proxyFor } from "fashion-mnist-lib/dist/data/download";
import { makeTempDir, removeDir, repoRoot, sendFile, startServer, type TestServer, runNode } from "./helpers";

const tmp = makeTempDir("fmnist-proxy-");
const NAME = "fake.bin";
const content = crypto.randomBytes(200_000);
const sha256 = crypto.createHash("sha256").update(content).digest("hex");
let mirror: TestServer;
let secure: https.Server;
let securePort = 0;
let proxy: http.Server;
let proxyPort = 0;
const seen: string[] = []; // what the proxy was asked for: "GET <url>" or "CONNECT host:port"

before(async () => {
  fs.writeFileSync(path.join(tmp, NAME), content);
  mirror = await startServer((req, res) => sendFile(tmp, req, res));
  // A certificate for 127.0.0.1, trusted by the child processes through NODE_EXTRA_CA_CERTS.
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-days",
      "1",
      "-subj",
      "/CN=127.0.0.1",
      "-addext",
      "subjectAltName=IP:127.0.0.1",
      "-keyout",
      path.join(tmp, "key.pem"),
      "-out",
      path.join(tmp, "cert.pem"),
    ],
    { stdio: "ignore" },
  );
  secure = https.createServer(
    { key: fs.readFileSync(path.join(tmp, "key.pem")), cert: fs.readFileSync(path.join(tmp, "cert.pem")) },
    (req, res) => sendFile(tmp, req, res),
  );
  await new Promise<void>((r) => secure.listen(0, "127.0.0.1", r));
  securePort = (secure.address() as net.AddressInfo).port;

  proxy = http.createServer((req, res) => {
    seen.push(`GET ${req.url}`);
    const upstream = http.get(req.url ?? "", { headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on("error", () => {
      res.writeHead(502);
      res.end();
    });
  });
  proxy.on("connect", (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    seen.push(`CONNECT ${req.url}`);
    const [host, port] = (req.url ?? "").split(":");
    const upstream = net.connect(Number(port), host, () => {
      client.write("HTTP/1.1 200 Connection established\r\n\r\n");
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on("error", () => client.destroy());
    client.on("error", () => upstream.destroy());
  });
  await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", r));
  proxyPort = (proxy.address() as net.AddressInfo).port;
});

after(async () => {
  await mirror.close();
  secure.closeAllConnections();
  proxy.closeAllConnections();
  await new Promise((r) => secure.close(r));
  await new Promise((r) => proxy.close(r));
  removeDir(tmp);
});

/** fetchToCache from `url` in a new Node process with `env` (the servers above keep answering meanwhile). */
async function download(
  url: string,
  env: NodeJS.ProcessEnv,
  cacheName: string,
): Promise<{ ok: boolean; output: string }> {
  const cacheDir = path.join(tmp, cacheName);
  const script = `require(${JSON.stringify(path.join(repoRoot, "lib", "dist", "data", "download.js"))}).fetchToCache(${JSON.stringify(
    {
      name: NAME,
      sha256,
      cacheDir,
      mirrors: [url],
      officialMirrors: false,
      attempts: 1,
      timeoutMs: 20_000,
    },
  )}).then(() => console.log("downloaded"), (e) => { console.error(e.message); process.exit(1); })`;
  // The machine's own proxy settings are unset for the child (spawn ignores undefined values).
  const unset = Object.fromEntries(
    Object.keys(process.env)
      .filter((k) => /^(https?|no)_proxy$/i.test(k))
      .map((k) => [k, undefined]),
  );
  const r = await runNode(script, { ...unset, ...env });
  return { ok: r.code === 0 && fs.existsSync(path.join(cacheDir, NAME)), output: r.output };
}

test("HTTP_PROXY carries plain http downloads (the whole URL in the request line)", async () => {
  seen.length = 0;
  const r = await download(`${mirror.base}/files`, { HTTP_PROXY: `http://127.0.0.1:${proxyPort}` }, "http");
  assert.ok(r.ok, r.output);
  assert.deepEqual(seen, [`GET ${mirror.base}/files/${NAME}`]);
});

test("HTTPS_PROXY carries https downloads through a CONNECT tunnel; the certificate is still checked", async () => {
  seen.length = 0;
  const url = `https://127.0.0.1:${securePort}/files`;
  const r = await download(
    url,
    { HTTPS_PROXY: `127.0.0.1:${proxyPort}`, NODE_EXTRA_CA_CERTS: path.join(tmp, "cert.pem") },
    "https",
  );
  assert.ok(r.ok, r.output);
  assert.deepEqual(seen, [`CONNECT 127.0.0.1:${securePort}`]);
  // Without trusting the test's certificate the tunnelled TLS handshake must fail.
  const untrusted = await download(url, { https_proxy: `http://127.0.0.1:${proxyPort}` }, "https-untrusted");
  assert.equal(untrusted.ok, false);
  assert.match(untrusted.output, /self-signed|certificate/i);
});

test("NO_PROXY sends listed hosts direct; a dead proxy is named in the error", async () => {
  seen.length = 0;
  const direct = await download(
    `${mirror.base}/files`,
    { HTTP_PROXY: `http://127.0.0.1:${proxyPort}`, NO_PROXY: "example.org,127.0.0.1" },
    "direct",
  );
  assert.ok(direct.ok, direct.output);
  assert.deepEqual(seen, [], "the proxy was bypassed");
  const dead = await download(`${mirror.base}/files`, { HTTP_PROXY: "http://127.0.0.1:1" }, "dead");
  assert.equal(dead.ok, false);
  assert.match(dead.output, /through the proxy 127\.0\.0\.1:1/);
});

test("proxyFor reads the variables as curl does", () => {
  const u = new URL("https://files.example.org/x");
  assert.equal(proxyFor(u, {}), undefined);
  assert.equal(proxyFor(u, { HTTPS_PROXY: "proxy:3128" })?.href, "http://proxy:3128/");
  assert.equal(proxyFor(u, { https_proxy: "http://a:1", HTTPS_PROXY: "http://b:2" })?.host, "a:1", "lower case first");
  assert.equal(proxyFor(u, { HTTP_PROXY: "http://a:1" }), undefined, "http_proxy is not used for https");
  for (const noProxy of ["*", "example.org", ".example.org", "files.example.org:443", "other, example.org"]) {
    assert.equal(proxyFor(u, { HTTPS_PROXY: "http://p:1", NO_PROXY: noProxy }), undefined, `NO_PROXY=${noProxy}`);
  }
  for (const noProxy of ["example.com", "files.example.org:8443", "ample.org"]) {
    assert.ok(proxyFor(u, { HTTPS_PROXY: "http://p:1", NO_PROXY: noProxy }), `NO_PROXY=${noProxy} does not match`);
  }
});
