import { describe, expect, it } from "vitest";
import {
  ipv4Text,
  parseCidr,
  parseLocalAddresses,
  parseRoutes,
  pickHostAddress,
} from "../../src/host/routes.js";
import { fetchOnce, listen, portOf, serveOnce } from "../../src/host/tcp-probe.js";

// As this machine's /proc/net shows them: eth0 192.0.2.2/24, default via 192.0.2.1.
const route = `Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
`;
const trie = `Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 127.0.0.0/8 2 0 2
        +-- 127.0.0.0/31 1 0 0
           |-- 127.0.0.0
              /8 host LOCAL
           |-- 127.0.0.1
              /32 host LOCAL
        |-- 127.255.255.255
           /32 link BROADCAST
     +-- 192.0.2.0/24 2 0 2
        +-- 192.0.2.0/30 2 0 2
           |-- 192.0.2.0
              /24 link UNICAST
           |-- 192.0.2.2
              /32 host LOCAL
        |-- 192.0.2.255
           /32 link BROADCAST
Local:
  +-- 0.0.0.0/0 3 0 5
           |-- 127.0.0.1
              /32 host LOCAL
           |-- 192.0.2.2
              /32 host LOCAL
`;

describe("routes: the host's addresses the rootless namespace reaches", () => {
  it("parseRoutes reads /proc/net/route's little-endian hex", () => {
    const routes = parseRoutes(route);
    expect(
      routes.map((r) => [r.iface, ipv4Text(r.destination), ipv4Text(r.gateway), ipv4Text(r.mask)]),
    ).toEqual([
      ["eth0", "0.0.0.0", "192.0.2.1", "0.0.0.0"],
      ["eth0", "192.0.2.0", "0.0.0.0", "255.255.255.0"],
    ]);
  });

  it.each([
    ["garbage", "x\ny z\n"],
    ["a short line", "Iface\neth0\t00000000\n"],
    ["a bad hex", "Iface\neth0\tZZZZZZZZ\t00000000\t0003\t0\t0\t0\t00000000\n"],
  ])("parseRoutes skips %s", (_name, text) => {
    expect(parseRoutes(text)).toEqual([]);
  });

  it("parseLocalAddresses: each LOCAL /32 once, not the /8 or broadcast leaves", () => {
    expect(parseLocalAddresses(trie)).toEqual(["127.0.0.1", "192.0.2.2"]);
  });

  it.each([
    ["10.0.2.0/24", "10.0.2.0", 24],
    ["10.0.2.15/24", "10.0.2.0", 24],
    ["0.0.0.0/0", "0.0.0.0", 0],
  ])("parseCidr(%j)", (cidr, network, bits) => {
    const parsed = parseCidr(cidr);
    expect(parsed && ipv4Text(parsed.network)).toBe(network);
    expect(parsed?.mask.toString(2).replace(/0/g, "").length).toBe(bits);
  });
  it.each(["10.0.2.0", "10.0.2.0/33", "300.0.0.0/8", "a/8"])("parseCidr(%j) is undefined", (c) => {
    expect(parseCidr(c)).toBeUndefined();
  });

  const slirp = parseCidr("10.0.2.0/24");
  const cases: [string, string, string[], string | undefined][] = [
    ["the default route's interface", route, ["127.0.0.1", "192.0.2.2"], "192.0.2.2"],
    [
      "the default route's before another interface's",
      route + "eth1\t0000A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n",
      ["192.168.0.5", "192.0.2.2"],
      "192.0.2.2",
    ],
    ["no default route: any other address", "Iface\n", ["127.0.0.1", "198.18.0.1"], "198.18.0.1"],
    // A QEMU guest is 10.0.2.15: the namespace would look for it on its own tap0.
    ["never inside the namespace's --cidr", route, ["10.0.2.15"], undefined],
    ["never link-local", route, ["169.254.1.1"], undefined],
    ["only loopback", route, ["127.0.0.1"], undefined],
  ];
  it.each(cases)("pickHostAddress: %s", (_name, table, locals, expected) => {
    expect(pickHostAddress(parseRoutes(table), locals, slirp)).toBe(expected);
  });
});

describe("serveOnce on a host address: only the host's own peers are served", () => {
  it("a connection from another address is cut, and the host's own is served", async () => {
    const server = await listen("127.0.0.1");
    const port = portOf(server);
    const served = serveOnce(server, 16 * 1024 * 1024, 5000, (peer) => peer === "127.0.0.3");
    // 127.0.0.2 stands for another host: cut before any byte.
    const stranger = await fetchOnce("127.0.0.1", port, 16 * 1024 * 1024, 2000, "127.0.0.2").then(
      () => "served",
      (err: unknown) => String(err),
    );
    expect(stranger).not.toBe("served");
    const report = await fetchOnce("127.0.0.1", port, 16 * 1024 * 1024, 5000, "127.0.0.3");
    expect(report.bytes).toBeGreaterThan(0);
    expect((await served).peer).toBe("127.0.0.3");
  });
});
