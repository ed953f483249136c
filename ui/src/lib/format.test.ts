import { describe, expect, it } from "vitest";
import { ago, countOf } from "./format";
import { fakeBackend } from "./backend";

describe("countOf", () => {
  it("uses the singular only for one", () => {
    expect(countOf(0, "environment")).toBe("0 environments");
    expect(countOf(1, "environment")).toBe("1 environment");
    expect(countOf(2, "droplet")).toBe("2 droplets");
    expect(countOf(2, "entry", "entries")).toBe("2 entries");
  });
});

describe("ago", () => {
  const now = new Date("2026-11-25T12:00:00Z");
  const before = (s: number) => new Date(now.getTime() - s * 1000);
  it("rounds to the unit a person reads", () => {
    expect(ago(before(3), now)).toBe("just now");
    expect(ago(before(-30), now)).toBe("just now");
    expect(ago(before(42), now)).toBe("42 s ago");
    expect(ago(before(5 * 60 + 10), now)).toBe("5 min ago");
    expect(ago(before(3600), now)).toBe("1 hour ago");
    expect(ago(before(5 * 3600), now)).toBe("5 hours ago");
    expect(ago(before(49 * 3600), now)).toBe("2 days ago");
  });
});

describe("fakeBackend", () => {
  it("answers with what it was given", async () => {
    const info = { version: "9.9.9", templates: ["common/hello"] };
    await expect(fakeBackend(info).appInfo()).resolves.toEqual(info);
  });
});
