// The kernel's heap, kept near what is live. In a tslab kernel the TypeScript
// compiler that checks every cell runs in the same process as the cells, and
// leaves 10-15 MB of garbage per cell; with no pressure on it V8 collects
// late, so a class-size run of the main notebook ended with 412 MB of heap in
// use of which 170 MB was live (measured with process.memoryUsage(), Node 24,
// commit 835e009, 2026-12-07). Collecting when the heap has grown by a few
// tens of MB since the last collection keeps it near the live size, which is
// what lets a student's kernel fit a 512 MB limit.
import * as v8 from "v8";
import * as vm from "vm";

let timer: NodeJS.Timeout | undefined;

/** V8's collector as a function: the one --expose-gc gives, or one made available now. */
function collector(): (() => void) | undefined {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (typeof exposed === "function") return exposed;
  try {
    v8.setFlagsFromString("--expose-gc");
    const gc: unknown = vm.runInNewContext("gc");
    return typeof gc === "function" ? (gc as () => void) : undefined;
  } catch {
    return undefined; // a runtime that refuses the flag keeps V8's own timing
  }
}

/**
 * Starts a check every `everyMs` (not keeping the process alive) that runs a
 * full collection once the heap in use has grown by `growthMb` since the last
 * one. A full collection of the kernel's ~170 MB live heap takes 30-100 ms.
 * Idempotent; returns whether the collector could be reached.
 */
export function keepHeapNearLive(everyMs = 1000, growthMb = 32): boolean {
  if (timer) return true;
  const gc = collector();
  if (!gc) return false;
  const used = () => v8.getHeapStatistics().used_heap_size;
  gc();
  let afterLast = used();
  timer = setInterval(() => {
    if (used() - afterLast < growthMb * 2 ** 20) return;
    gc();
    afterLast = used();
  }, everyMs);
  timer.unref();
  return true;
}

/** Stops the checks (tests). */
export function stopKeepingHeap(): void {
  if (timer) clearInterval(timer);
  timer = undefined;
}
