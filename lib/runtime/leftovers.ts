// Telling leftovers of a dead process from work in progress. Temporary files
// and folders carry their writer's PID in their names (`<name>.<pid>.<r>.part`
// in the dataset cache, `.NAME.saving-<pid>-<r>` beside a saved model); one
// whose process is gone is a leftover of a crash and can be removed.

/** Whether a process with this PID exists (a PID reused since is taken as alive: nothing is removed wrongly). */
export function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
