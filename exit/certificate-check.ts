// The exit's certificate against the name people reach it by. A phone opens the app at the
// exit's public URL and refuses a certificate for another name (or none at all, on plain HTTP),
// so the exit says so at start, in one line, with what to do, instead of every phone failing.
import { X509Certificate } from "node:crypto";
import { isIpAddress, parseIp, unmapIpv4 } from "../protocol/ip.js";

/** The DNS names and IP addresses a certificate is for (its subjectAltName, else its CN). */
export function certificateNames(certPem: string): string[] {
  const cert = new X509Certificate(certPem);
  const names = (cert.subjectAltName ?? "")
    .split(/,\s*/)
    .map((entry) => /^(?:DNS|IP Address):(.+)$/.exec(entry)?.[1])
    .filter((name): name is string => Boolean(name));
  if (names.length) return names;
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(cert.subject)?.[1];
  return cn ? [cn] : [];
}

/** The URL laptops dial: --public-url, else wss:// the certificate's first DNS name on the listen port. */
export function publicUrlOf(
  publicUrl: string | undefined,
  certPem: string | undefined,
  port: number,
): string | undefined {
  if (publicUrl) return publicUrl.replace(/^https:/, "wss:").replace(/\/$/, "");
  if (!certPem) return undefined;
  const name = certificateNames(certPem).find((n) => !isIpAddress(n) && !n.includes("*"));
  return name ? `wss://${name}${port === 443 ? "" : `:${port}`}` : undefined;
}

function isLoopback(host: string): boolean {
  if (host === "localhost") return true;
  try {
    const address = unmapIpv4(parseIp(host));
    return address.family === 4
      ? address.value >>> 24 === 127
      : address.bytes.every((b, i) => b === (i === 15 ? 1 : 0));
  } catch {
    return false;
  }
}

export interface CertificateAdvice {
  /** CERT_NAME_MISMATCH refuses to start; NO_CERTIFICATE only warns (a TLS proxy may be in front). */
  code: "CERT_NAME_MISMATCH" | "NO_CERTIFICATE";
  message: string;
}

/** What is wrong with the exit's certificate for its public name, or undefined when nothing is. */
export function certificateAdvice(options: {
  certPem: string | undefined;
  host: string;
  port: number;
  publicUrl: string | undefined;
}): CertificateAdvice | undefined {
  const { certPem, host, port, publicUrl } = options;
  const hostname = publicUrl ? new URL(publicUrl).hostname.replace(/^\[|\]$/g, "") : undefined;
  if (certPem && hostname) {
    const cert = new X509Certificate(certPem);
    const matches = isIpAddress(hostname)
      ? cert.checkIP(hostname) !== undefined
      : cert.checkHost(hostname) !== undefined;
    if (!matches) {
      return {
        code: "CERT_NAME_MISMATCH",
        message: `the certificate (--cert) is for ${certificateNames(certPem).join(", ") || "no name"}, not ${hostname} (--public-url): phones would refuse it; get one for ${hostname}, e.g. certbot certonly --standalone -d ${hostname}`,
      };
    }
  }
  if (!certPem && !isLoopback(host)) {
    const name = hostname ?? "YOUR-NAME";
    return {
      code: "NO_CERTIFICATE",
      message: `no certificate: serving plain HTTP on ${host}:${port}, which phones only use behind a TLS proxy; for a public name pass --cert and --tls-key (e.g. from certbot certonly --standalone -d ${name}), or listen on 127.0.0.1 behind the proxy`,
    };
  }
  return undefined;
}
