// One student's side of the bench: the hub's REST API (starting a server), a kernel's websocket, and
// the main notebook's cells run one after another in a fresh tslab kernel.
import * as crypto from "crypto";
import { r1, type Sampler, sleep } from "./measure";

export interface Cell {
  index: number;
  code: string;
}
export interface CellResult {
  index: number;
  seconds: number;
  cpuSeconds: number;
  status: string;
}
export interface StudentRun {
  user: string;
  uid: number;
  serverStartS?: number;
  kernelStartS?: number;
  runS?: number;
  finished: boolean;
  error?: string;
  cells: CellResult[];
  trainShape?: string;
  testAccuracy?: string;
  trainedLine?: string;
  peakRssMb: number;
  peakPssMb: number;
  cpuSeconds: number;
}

export class Api {
  constructor(
    private base: string,
    private token: string,
  ) {}
  async call(method: string, url: string, body?: unknown): Promise<{ status: number; json: unknown }> {
    let res: Response | undefined;
    // A GET is tried again after a network error (a reused keep-alive connection the server had just
    // closed, under load), as a browser would; other methods are not repeated. The error names its cause.
    for (let attempt = 1; !res; attempt++) {
      try {
        res = await fetch(`${this.base}${url}`, {
          method,
          headers: { Authorization: `token ${this.token}`, "Content-Type": "application/json" },
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.timeout(60_000),
        });
      } catch (err) {
        const cause = (err as { cause?: { code?: string; message?: string } }).cause;
        const why = `${method} ${url}: ${(err as Error).message}${cause ? ` (${cause.code ?? cause.message})` : ""}`;
        if (method !== "GET" || attempt >= 3 || (err as Error).name === "TimeoutError")
          throw new Error(why, { cause: err });
        console.error(`bench:hub: ${why}; trying again`);
        await sleep(500);
      }
    }
    const text = await res.text();
    let json: unknown = text;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: kept as text for the error message
    }
    return { status: res.status, json };
  }
  wsUrl(url: string): string {
    return `${this.base.replace(/^http/, "ws")}${url}`;
  }
  get authHeader(): string {
    return `token ${this.token}`;
  }
}

/** POST /hub/api/users/U/server, then polls the user's model until the server is ready; its seconds. */
export async function startServer(api: Api, user: string, deadline: number, abort: AbortSignal): Promise<number> {
  const t0 = performance.now();
  const res = await api.call("POST", `/hub/api/users/${user}/server`, {});
  if (res.status !== 201 && res.status !== 202)
    throw new Error(`starting ${user}'s server: HTTP ${res.status} ${JSON.stringify(res.json)}`);
  while (Date.now() < deadline && !abort.aborted) {
    const model = (await api.call("GET", `/hub/api/users/${user}`)).json as {
      servers?: Record<string, { ready?: boolean }>;
    };
    if (model.servers?.[""]?.ready) return (performance.now() - t0) / 1000;
    await sleep(500);
  }
  throw new Error(`${user}'s server was not ready in time`);
}

interface Message {
  channel: string;
  header: { msg_id: string; msg_type: string };
  parent_header: { msg_id?: string };
  content: Record<string, unknown>;
}

/** A kernel's websocket (jupyter_server's JSON messages, one per frame, with a "channel" field). */
class KernelChannels {
  private ws: WebSocket;
  private session = crypto.randomUUID();
  private waiters = new Set<(m: Message) => void>();
  private closed?: string;
  constructor(url: string, authHeader: string) {
    // Node's WebSocket (undici) takes headers as an extension of the standard options.
    this.ws = new WebSocket(`${url}?session_id=${this.session}`, {
      headers: { Authorization: authHeader },
    } as unknown as string[]);
    this.ws.onmessage = (e) => {
      const m = JSON.parse(String(e.data)) as Message;
      for (const w of [...this.waiters]) w(m);
    };
    this.ws.onclose = (e) => {
      this.closed = `the kernel's websocket closed (code ${e.code})`;
      for (const w of [...this.waiters]) w({ channel: "closed" } as Message);
    };
  }
  opened(abort: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      this.ws.onopen = () => resolve();
      this.ws.onerror = () => reject(new Error("the kernel's websocket did not open"));
      abort.addEventListener("abort", () => reject(new Error(String(abort.reason))), { once: true });
    });
  }
  close(): void {
    this.ws.close();
  }
  /** Sends a request; resolves with the reply and the iopub messages up to the kernel's "idle" for it. */
  request(
    channel: string,
    type: string,
    content: Record<string, unknown>,
    abort: AbortSignal,
  ): Promise<{ reply: Message; iopub: Message[] }> {
    const msgId = crypto.randomUUID();
    return new Promise((resolve, reject) => {
      if (this.closed) return reject(new Error(this.closed));
      const iopub: Message[] = [];
      let reply: Message | undefined;
      let idle = false;
      const done = (err?: Error) => {
        this.waiters.delete(waiter);
        abort.removeEventListener("abort", onAbort);
        if (err) reject(err);
        else resolve({ reply: reply!, iopub });
      };
      const onAbort = () => done(new Error(String(abort.reason)));
      const waiter = (m: Message) => {
        if (m.channel === "closed") return done(new Error(this.closed));
        if (m.parent_header?.msg_id !== msgId) return;
        if (m.channel === "iopub") {
          iopub.push(m);
          if (m.header.msg_type === "status" && m.content.execution_state === "idle") idle = true;
        } else if (m.channel === channel) reply = m;
        if (reply && idle) done();
      };
      this.waiters.add(waiter);
      abort.addEventListener("abort", onAbort, { once: true });
      this.ws.send(
        JSON.stringify({
          channel,
          header: {
            msg_id: msgId,
            msg_type: type,
            session: this.session,
            username: "bench",
            date: new Date().toISOString(),
            version: "5.3",
          },
          parent_header: {},
          metadata: {},
          content,
          buffers: [],
        }),
      );
    });
  }
}

const streamText = (iopub: Message[], name?: string) =>
  iopub
    .filter((m) => m.header.msg_type === "stream" && (!name || m.content.name === name))
    .map((m) => String(m.content.text))
    .join("");

/** One student's run: a fresh tslab kernel in their server, the preamble, then every code cell in order. */
export async function runNotebook(
  api: Api,
  run: StudentRun,
  uid: number,
  cells: Cell[],
  preamble: string,
  sampler: Sampler,
  abort: AbortSignal,
): Promise<void> {
  const t0 = performance.now();
  const created = await api.call("POST", `/user/${run.user}/api/kernels`, { name: "tslab" });
  const id = (created.json as { id?: string })?.id;
  if (created.status !== 201 || !id)
    throw new Error(`starting a tslab kernel: HTTP ${created.status} ${JSON.stringify(created.json)}`);
  const channels = new KernelChannels(api.wsUrl(`/user/${run.user}/api/kernels/${id}/channels`), api.authHeader);
  try {
    await channels.opened(abort);
    await channels.request("shell", "kernel_info_request", {}, abort);
    run.kernelStartS = (performance.now() - t0) / 1000;
    const all: Cell[] = preamble ? [{ index: -1, code: preamble }, ...cells] : cells;
    for (const cell of all) {
      const c0 = performance.now();
      const cpu0 = sampler.cpuNow(uid);
      const { reply, iopub } = await channels.request(
        "shell",
        "execute_request",
        { code: cell.code, silent: false, store_history: true, user_expressions: {}, allow_stdin: false },
        abort,
      );
      const status = String(reply.content.status);
      run.cells.push({
        index: cell.index,
        seconds: r1((performance.now() - c0) / 1000),
        cpuSeconds: r1(sampler.cpuNow(uid) - cpu0),
        status,
      });
      const out = streamText(iopub, "stdout");
      run.trainShape ??= /Training data shape: (\[[^\]]*\])/.exec(out)?.[1].replace(/\s+/g, " ");
      run.trainedLine ??= /trained \d+ epochs? in \d+ s/.exec(out)?.[0];
      run.testAccuracy ??= /Test accuracy: ([\d.]+%)/.exec(out)?.[1];
      if (status !== "ok") {
        // tslab sends no traceback: its message is on stderr.
        const why = (streamText(iopub, "stderr") || JSON.stringify(reply.content)).trim().slice(0, 2000);
        throw new Error(`cell ${cell.index} of the notebook failed: ${why}`);
      }
    }
    run.runS = (performance.now() - t0) / 1000;
    run.finished = true;
  } finally {
    channels.close();
    await api.call("DELETE", `/user/${run.user}/api/kernels/${id}`).catch(() => undefined);
  }
}
