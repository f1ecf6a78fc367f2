// The network side of a download: one GET with connect and idle timers,
// redirects, and the proxy the environment names (HTTPS_PROXY / HTTP_PROXY /
// NO_PROXY, CONNECT tunnels for https), writing into the download's sink.
import * as http from "http";
import * as https from "https";
import * as net from "net";
import * as tls from "tls";
import { AttemptError, CacheDirError, errText } from "./download-errors";

/** Where the bytes of one attempt go (download.ts's .part file). */
export interface Sink {
  total?: number;
  received: number;
  write(chunk: Buffer): Promise<void>;
}

interface Connection {
  res: http.IncomingMessage;
  kick(): void;
  close(): void;
}

/**
 * The proxy for a URL, as curl, pip and npm read it: https_proxy / HTTPS_PROXY
 * for https, http_proxy / HTTP_PROXY for http, unless NO_PROXY (comma-separated
 * host names, domain suffixes, "host:port" or "*") names the host.
 */
export function proxyFor(url: URL, env: NodeJS.ProcessEnv = process.env): URL | undefined {
  const pick = (name: string) => env[name.toLowerCase()]?.trim() || env[name.toUpperCase()]?.trim();
  const proxy = url.protocol === "https:" ? pick("https_proxy") : pick("http_proxy");
  if (!proxy) return undefined;
  const host = url.hostname.replace(/^\[|\]$/g, "").toLowerCase();
  const port = url.port || (url.protocol === "https:" ? "443" : "80");
  for (const raw of (pick("no_proxy") ?? "").split(",")) {
    const entry = raw.trim().toLowerCase();
    if (!entry) continue;
    if (entry === "*") return undefined;
    const [name, entryPort] = entry.replace(/^\[|\](?=:|$)/g, "").split(/:(?=\d+$)/);
    if (entryPort && entryPort !== port) continue;
    const bare = name.replace(/^\*?\./, "");
    if (host === bare || host.endsWith(`.${bare}`)) return undefined;
  }
  try {
    return new URL(/^[a-z]+:\/\//i.test(proxy) ? proxy : `http://${proxy}`);
  } catch {
    throw new AttemptError(`the proxy setting "${proxy}" (HTTPS_PROXY / HTTP_PROXY) is not a URL`, false);
  }
}

function proxyHeaders(proxy: URL): Record<string, string> {
  if (!proxy.username) return {};
  const creds = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`;
  return { "proxy-authorization": `Basic ${Buffer.from(creds).toString("base64")}` };
}

/** A socket to url's host through the proxy's CONNECT tunnel (for https). */
function tunnel(proxy: URL, url: URL, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const target = `${url.hostname}:${url.port || 443}`;
    const req = http.request({
      host: proxy.hostname,
      port: proxy.port || 80,
      method: "CONNECT",
      path: target,
      agent: false,
      headers: { host: target, ...proxyHeaders(proxy) },
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer for ${timeoutMs} ms`)));
    req.once("connect", (res, socket) => {
      req.setTimeout(0);
      if (res.statusCode === 200) return resolve(socket);
      socket.destroy();
      reject(
        new AttemptError(
          `${url.href}: the proxy ${proxy.host} refused the tunnel (HTTP ${res.statusCode})`,
          (res.statusCode ?? 0) >= 500,
        ),
      );
    });
    req.once("error", (err) =>
      reject(new AttemptError(`${url.href}: through the proxy ${proxy.host}: ${errText(err)}`, true)),
    );
    req.end();
  });
}

/** One GET request (through the proxy the environment names) with a connect/idle timer; resolves on response headers. */
async function get(url: URL, timeoutMs: number): Promise<Connection> {
  const proxy = proxyFor(url);
  const headers: Record<string, string> = { "user-agent": "fashion-mnist-cnn-ts", "accept-encoding": "identity" };
  let options: https.RequestOptions = { agent: false, headers };
  let target: URL | string = url;
  let tunnelled: net.Socket | undefined;
  if (proxy && url.protocol === "https:") {
    const socket = await tunnel(proxy, url, timeoutMs);
    tunnelled = socket;
    options = { ...options, createConnection: () => tls.connect({ socket, servername: url.hostname }) };
  } else if (proxy) {
    // Plain http through a proxy: the request line carries the whole URL.
    options = {
      ...options,
      host: proxy.hostname,
      port: proxy.port || 80,
      path: url.href,
      headers: { ...headers, host: url.host, ...proxyHeaders(proxy) },
    };
    target = "";
  }
  return new Promise((resolve, reject) => {
    const lib = url.protocol === "https:" ? https : http;
    let res: http.IncomingMessage | undefined;
    let timer: NodeJS.Timeout | undefined;
    const stop = () => clearTimeout(timer);
    const kick = () => {
      stop();
      timer = setTimeout(() => {
        const err = new AttemptError(`${url.href}: no data for ${timeoutMs} ms (timed out)`, true);
        req.destroy(err);
        res?.destroy(err);
      }, timeoutMs);
    };
    const onResponse = (r: http.IncomingMessage) => {
      res = r;
      r.on("error", () => {
        /* surfaced through the reader */
      });
      kick();
      resolve({
        res: r,
        kick,
        close: () => {
          stop();
          req.destroy();
        },
      });
    };
    const req = target === "" ? http.get(options, onResponse) : lib.get(target, options, onResponse);
    // The tunnel's own socket lives as long as the request (TLS over it does not close it).
    req.once("close", () => tunnelled?.destroy());
    req.on("error", (err) => {
      stop();
      if (res) {
        res.destroy(err);
      } else {
        const via = proxy ? ` (through the proxy ${proxy.host})` : "";
        reject(err instanceof AttemptError ? err : new AttemptError(`${url.href}${via}: ${errText(err)}`, true));
      }
    });
    kick();
  });
}

export async function downloadHttp(start: string, sink: Sink, timeoutMs: number, maxRedirects: number): Promise<void> {
  let url = new URL(start);
  for (let hop = 0; ; hop++) {
    const conn = await get(url, timeoutMs);
    const { res } = conn;
    try {
      const status = res.statusCode ?? 0;
      if ([301, 302, 303, 307, 308].includes(status)) {
        const location = res.headers.location;
        if (!location) throw new AttemptError(`${url.href}: HTTP ${status} redirect without a Location header`, false);
        if (hop >= maxRedirects) throw new AttemptError(`${start}: more than ${maxRedirects} redirects`, false);
        const next = new URL(location, url);
        if (next.protocol !== "http:" && next.protocol !== "https:") {
          throw new AttemptError(`${url.href}: redirect to unsupported URL ${next.href}`, false);
        }
        url = next;
        continue;
      }
      if (status !== 200) {
        const transient = status >= 500 || status === 408 || status === 429;
        throw new AttemptError(`${url.href}: HTTP ${status} ${res.statusMessage ?? ""}`.trimEnd(), transient);
      }
      const length = res.headers["content-length"];
      const total = length !== undefined && /^\d+$/.test(length) ? Number(length) : undefined;
      sink.total = total;
      try {
        for await (const chunk of res) {
          conn.kick();
          await sink.write(chunk as Buffer);
        }
      } catch (err) {
        if (err instanceof AttemptError || err instanceof CacheDirError) throw err;
        throw new AttemptError(`${url.href}: transfer failed after ${sink.received} bytes (${errText(err)})`, true);
      }
      if (total !== undefined && sink.received !== total) {
        throw new AttemptError(
          `${url.href}: connection closed after ${sink.received} of ${total} bytes (truncated)`,
          true,
        );
      }
      return;
    } finally {
      conn.close();
    }
  }
}

