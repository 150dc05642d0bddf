import { describe, expect, it } from "vitest";
import { groupsOf, memberships, parseGroup, parsePasswd } from "../../src/host/accounts.js";

const passwd = parsePasswd(
  "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000:Alice,,,:/home/alice:/bin/bash\nbroken:x:notanumber:1::/:/bin/sh\nshort:x:1\n",
);
const groups = parseGroup(
  "root:x:0:\nalice:x:1000:\ndocker:x:999:bob,alice\nplugdev:x:46:bob\nbad:x::alice\n",
);

describe("accounts", () => {
  it("skips malformed passwd and group lines", () => {
    expect(passwd.map((e) => e.name)).toEqual(["root", "alice"]);
    expect(groups.map((g) => g.name)).toEqual(["root", "alice", "docker", "plugdev"]);
  });

  it("lists the primary and supplementary groups", () => {
    const alice = passwd[1];
    expect(alice && groupsOf(alice, memberships(groups))).toEqual([999, 1000]);
  });
});
