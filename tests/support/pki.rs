//! A test PKI made at run time with OpenSSL's X509 builder (no committed keys, no CLI), the
//! same set as `shared/tls-interop/make_certs.sh`:
//!
//! | name        | what                                                                    |
//! |-------------|-------------------------------------------------------------------------|
//! | `ca`        | trusted root                                                            |
//! | `rogue-ca`  | a root nobody trusts                                                    |
//! | `server`    | DNS:localhost, DNS:sni.test, IP:127.0.0.1, serverAuth, signed by `ca`   |
//! | `wronghost` | DNS:wrong.example only, signed by `ca`                                  |
//! | `untrusted` | DNS:localhost, IP:127.0.0.1, signed by `rogue-ca`                       |
//! | `client`    | DNS:client.test, clientAuth, signed by `ca`                             |
//! | `expired`   | DNS:localhost, IP:127.0.0.1, valid only in January 2020, signed by `ca` |
//!
//! All keys are P-256. [`pki`] builds it once per test binary; [`Pki::write_to`] writes it as
//! files named like the script's (`server.pem`, `server.key`, `client-combined.pem`, ...) for
//! `openssl s_client`/`s_server` and Python's `ssl`. Include it with
//! `#[path = "support/pki.rs"] mod pki;`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::{
    BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
};
use openssl::x509::{X509, X509Name};

/// A certificate and its private key, as PEM.
pub struct Identity {
    /// The certificate, PEM.
    pub cert_pem: Vec<u8>,
    /// The private key, PKCS#8 PEM.
    pub key_pem: Vec<u8>,
    /// The certificate.
    pub cert: X509,
    key: PKey<Private>,
}

/// The whole test PKI.
pub struct Pki {
    pub ca: Identity,
    pub rogue_ca: Identity,
    pub server: Identity,
    pub wronghost: Identity,
    pub untrusted: Identity,
    pub client: Identity,
    pub expired: Identity,
}

/// Where [`Pki::write_to`] put the files.
pub struct PkiFiles {
    /// The directory.
    pub dir: PathBuf,
}

impl PkiFiles {
    /// `<dir>/<name>.pem`: `ca`, `rogue-ca`, `server`, `wronghost`, `untrusted`, `client`,
    /// `expired`, `client-combined` (client certificate then key).
    pub fn pem(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.pem"))
    }

    /// `<dir>/<name>.key`.
    pub fn key(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.key"))
    }
}

/// The test PKI, made on first use (key generation is not free).
/// A server context builder with the `server` identity (localhost, sni.test, 127.0.0.1).
#[allow(dead_code)] // not every includer builds contexts
pub fn server_builder() -> rsuv::tls::ServerBuilder {
    rsuv::tls::TlsContext::server()
        .cert_chain_pem(&pki().server.cert_pem)
        .private_key_pem(&pki().server.key_pem)
}

/// A client context builder trusting the test CA only.
#[allow(dead_code)]
pub fn client_builder() -> rsuv::tls::ClientBuilder {
    rsuv::tls::TlsContext::client()
        .system_roots(false)
        .ca_pem(&pki().ca.cert_pem)
}

pub fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(Pki::generate)
}

/// A fresh, empty directory under the system's temp directory.
pub fn temp_dir(tag: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("rsuv-{tag}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("creating a temp dir");
    dir
}

const DAY: i64 = 86_400;

impl Pki {
    fn generate() -> Pki {
        let now = now();
        let ca = self_signed("Test Root CA");
        let rogue_ca = self_signed("Rogue CA");
        let good = (now - DAY, now + 30 * DAY);
        let server_san = &["DNS:localhost", "DNS:sni.test", "IP:127.0.0.1"];
        let local_san = &["DNS:localhost", "IP:127.0.0.1"];
        Pki {
            server: leaf("server", &ca, server_san, Eku::Server, good),
            wronghost: leaf("wronghost", &ca, &["DNS:wrong.example"], Eku::Server, good),
            untrusted: leaf("untrusted", &rogue_ca, local_san, Eku::Server, good),
            client: leaf("client", &ca, &["DNS:client.test"], Eku::Client, good),
            expired: leaf(
                "expired",
                &ca,
                local_san,
                Eku::Server,
                (1_577_836_800, 1_580_515_200),
            ),
            ca,
            rogue_ca,
        }
    }

    /// Writes every certificate and key into `dir` (which must exist), named like
    /// `make_certs.sh` does.
    pub fn write_to(&self, dir: &Path) -> PkiFiles {
        let all = [
            ("ca", &self.ca),
            ("rogue-ca", &self.rogue_ca),
            ("server", &self.server),
            ("wronghost", &self.wronghost),
            ("untrusted", &self.untrusted),
            ("client", &self.client),
            ("expired", &self.expired),
        ];
        let files = PkiFiles {
            dir: dir.to_owned(),
        };
        for (name, id) in all {
            std::fs::write(files.pem(name), &id.cert_pem).expect("writing a certificate");
            std::fs::write(files.key(name), &id.key_pem).expect("writing a key");
        }
        let combined = [&self.client.cert_pem[..], &self.client.key_pem[..]].concat();
        std::fs::write(files.pem("client-combined"), combined).expect("writing client-combined");
        files
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn p256() -> PKey<Private> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap()
}

fn name(cn: &str) -> X509Name {
    let mut n = X509Name::builder().unwrap();
    n.append_entry_by_nid(Nid::COMMONNAME, cn).unwrap();
    n.build()
}

fn serial() -> Asn1Integer {
    static N: AtomicU32 = AtomicU32::new(1000);
    let n = BigNum::from_u32(N.fetch_add(1, Ordering::Relaxed)).unwrap();
    n.to_asn1_integer().unwrap()
}

fn identity(cert: X509, key: PKey<Private>) -> Identity {
    Identity {
        cert_pem: cert.to_pem().unwrap(),
        key_pem: key.private_key_to_pem_pkcs8().unwrap(),
        cert,
        key,
    }
}

fn self_signed(cn: &str) -> Identity {
    let key = p256();
    let mut b = X509::builder().unwrap();
    b.set_version(2).unwrap();
    b.set_serial_number(&serial()).unwrap();
    b.set_subject_name(&name(cn)).unwrap();
    b.set_issuer_name(&name(cn)).unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&Asn1Time::from_unix(now() - DAY).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::from_unix(now() + 30 * DAY).unwrap())
        .unwrap();
    let bc = BasicConstraints::new().critical().ca().build().unwrap();
    b.append_extension(bc).unwrap();
    let ku = KeyUsage::new()
        .critical()
        .key_cert_sign()
        .crl_sign()
        .build();
    b.append_extension(ku.unwrap()).unwrap();
    b.sign(&key, MessageDigest::sha256()).unwrap();
    identity(b.build(), key)
}

enum Eku {
    Server,
    Client,
}

fn leaf(cn: &str, ca: &Identity, san: &[&str], eku: Eku, valid: (i64, i64)) -> Identity {
    let key = p256();
    let mut b = X509::builder().unwrap();
    b.set_version(2).unwrap();
    b.set_serial_number(&serial()).unwrap();
    b.set_subject_name(&name(cn)).unwrap();
    b.set_issuer_name(ca.cert.subject_name()).unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&Asn1Time::from_unix(valid.0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::from_unix(valid.1).unwrap())
        .unwrap();
    let mut alt = SubjectAlternativeName::new();
    for entry in san {
        match entry.split_once(':') {
            Some(("DNS", dns)) => alt.dns(dns),
            Some(("IP", ip)) => alt.ip(ip),
            _ => panic!("bad SAN {entry}"),
        };
    }
    let alt = alt.build(&b.x509v3_context(Some(&ca.cert), None)).unwrap();
    b.append_extension(alt).unwrap();
    let mut usage = ExtendedKeyUsage::new();
    match eku {
        Eku::Server => usage.server_auth(),
        Eku::Client => usage.client_auth(),
    };
    b.append_extension(usage.build().unwrap()).unwrap();
    b.append_extension(BasicConstraints::new().build().unwrap())
        .unwrap();
    b.sign(&ca.key, MessageDigest::sha256()).unwrap();
    identity(b.build(), key)
}
