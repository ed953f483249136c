// Small, pure text helpers shared by the screens.

/** "1 environment", "3 environments". */
export function countOf(n: number, noun: string, plural = `${noun}s`): string {
  return `${n} ${n === 1 ? noun : plural}`;
}

/** How long ago `then` was, relative to `now`, in words a status line can show. */
export function ago(then: Date, now: Date): string {
  const seconds = Math.round((now.getTime() - then.getTime()) / 1000);
  if (seconds < 0) return "just now";
  if (seconds < 10) return "just now";
  if (seconds < 60) return `${seconds} s ago`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${countOf(hours, "hour")} ago`;
  return `${countOf(Math.floor(hours / 24), "day")} ago`;
}

/** "1.4 MB" for a byte count. */
export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
}

/** The colour a deploy goes to: the one that is not live (blue before the first deploy). */
export function inactiveOf(live: string | null): string {
  if (live === "blue") return "green";
  if (live === "green") return "blue";
  return "blue";
}

/** "2026-11-25 10:15 UTC" from an RFC 3339 time; the input unchanged if it is not one. */
export function when(iso: string): string {
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})(?::\d{2}(?:\.\d+)?)?Z$/.exec(iso);
  return m ? `${m[1]} ${m[2]} UTC` : iso;
}
