import { describe, expect, it } from "vitest";
import { ago, bytes, countOf, inactiveOf, when } from "./format";

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

describe("bytes", () => {
  it("uses binary units with one decimal below ten", () => {
    expect(bytes(512)).toBe("512 B");
    expect(bytes(1536)).toBe("1.5 KB");
    expect(bytes(200 * 1024 * 1024)).toBe("200 MB");
  });
});

describe("inactiveOf", () => {
  it("is the colour that is not live, blue before any deploy", () => {
    expect(inactiveOf("blue")).toBe("green");
    expect(inactiveOf("green")).toBe("blue");
    expect(inactiveOf(null)).toBe("blue");
  });
});

describe("when", () => {
  it("shows RFC 3339 UTC times to the minute", () => {
    expect(when("2026-11-25T10:15:00Z")).toBe("2026-11-25 10:15 UTC");
    expect(when("2026-11-25T10:15:00.123Z")).toBe("2026-11-25 10:15 UTC");
    expect(when("yesterday")).toBe("yesterday");
  });
});
