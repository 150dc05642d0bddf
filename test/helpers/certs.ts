import { execFileSync } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface TestCerts {
  readonly dir: string;
  readonly ca: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
  /** A client certificate signed by another CA, which verification must refuse. */
  readonly rogueCert: string;
  readonly rogueKey: string;
}

export const canMakeCerts = existsSync("/usr/bin/openssl");

function openssl(dir: string, args: string[]): void {
  execFileSync("/usr/bin/openssl", args, { cwd: dir, stdio: "ignore", timeout: 20_000 });
}

/** A throwaway CA, a server certificate for 127.0.0.1 and localhost, and client certificates. */
export function makeCerts(dir: string): TestCerts {
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  const ca = (name: string) =>
    openssl(dir, [
      "req",
      "-x509",
      ...ec,
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.pem`,
      "-days",
      "2",
      "-subj",
      `/CN=${name}`,
    ]);
  const leaf = (name: string, signer: string, ext: string) => {
    writeFileSync(join(dir, `${name}.ext`), ext);
    openssl(dir, [
      "req",
      ...ec,
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.csr`,
      "-subj",
      `/CN=${name}`,
    ]);
    openssl(dir, [
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      `${signer}.pem`,
      "-CAkey",
      `${signer}.key`,
      "-CAcreateserial",
      "-out",
      `${name}.pem`,
      "-days",
      "2",
      "-extfile",
      `${name}.ext`,
    ]);
  };
  ca("ca");
  ca("rogue-ca");
  leaf("server", "ca", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n");
  leaf("client", "ca", "subjectAltName=DNS:prometheus\nextendedKeyUsage=clientAuth\n");
  leaf("rogue", "rogue-ca", "subjectAltName=DNS:prometheus\nextendedKeyUsage=clientAuth\n");
  const at = (file: string) => join(dir, file);
  return {
    dir,
    ca: at("ca.pem"),
    serverCert: at("server.pem"),
    serverKey: at("server.key"),
    clientCert: at("client.pem"),
    clientKey: at("client.key"),
    rogueCert: at("rogue.pem"),
    rogueKey: at("rogue.key"),
  };
}
