// The exit's certificate against its public name: a mismatch refuses to start, a plain-HTTP exit
// on a public address warns, each with what to do.
import { generate } from "selfsigned";
import { describe, expect, it } from "vitest";
import { certificateAdvice, certificateNames, publicUrlOf } from "./certificate-check.js";

async function certFor(...names: string[]): Promise<string> {
  const pems = await generate([{ name: "commonName", value: names[0] ?? "x" }], {
    keyType: "ec",
    curve: "P-256",
    algorithm: "sha256",
    extensions: [{ name: "subjectAltName", altNames: names.map((value) => ({ type: 2 as const, value })) }],
  });
  return pems.cert;
}

describe("the exit's certificate and its public name", () => {
  it("reads the names a certificate is for", async () => {
    expect(certificateNames(await certFor("exit.example.com", "www.example.com"))).toEqual([
      "exit.example.com",
      "www.example.com",
    ]);
  });

  it("refuses a certificate for another name than --public-url's, saying how to get the right one", async () => {
    const advice = certificateAdvice({
      certPem: await certFor("other.example"),
      host: "0.0.0.0",
      port: 8443,
      publicUrl: "wss://exit.example.com:8443",
    });
    expect(advice?.code).toBe("CERT_NAME_MISMATCH");
    expect(advice?.message).toContain("certbot certonly --standalone -d exit.example.com");
  });

  it("accepts a certificate for the public name", async () => {
    const certPem = await certFor("exit.example.com");
    expect(
      certificateAdvice({ certPem, host: "0.0.0.0", port: 8443, publicUrl: "wss://exit.example.com" }),
    ).toBeUndefined();
    expect(certificateAdvice({ certPem, host: "0.0.0.0", port: 8443, publicUrl: undefined })).toBeUndefined();
  });

  it("warns about plain HTTP on a public address, and not behind a local proxy", () => {
    expect(
      certificateAdvice({ certPem: undefined, host: "0.0.0.0", port: 8443, publicUrl: undefined })?.code,
    ).toBe("NO_CERTIFICATE");
    for (const host of ["127.0.0.1", "::1", "localhost"]) {
      expect(
        certificateAdvice({ certPem: undefined, host, port: 8080, publicUrl: undefined }),
        host,
      ).toBeUndefined();
    }
  });

  it("takes the public URL from --public-url, else from the certificate's name", async () => {
    expect(publicUrlOf("https://exit.example.com:8443/", undefined, 8443)).toBe(
      "wss://exit.example.com:8443",
    );
    expect(publicUrlOf(undefined, await certFor("exit.example.com"), 8443)).toBe(
      "wss://exit.example.com:8443",
    );
    expect(publicUrlOf(undefined, await certFor("exit.example.com"), 443)).toBe("wss://exit.example.com");
    expect(publicUrlOf(undefined, undefined, 8443)).toBeUndefined();
  });
});
