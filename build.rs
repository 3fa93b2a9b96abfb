//! With the `live` feature, checks that libpcap can be linked before the `pcap` crate tries, so
//! a machine without it gets a message that says what to install instead of a linker error.

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=LIBPCAP_LIBDIR");
    let live = std::env::var_os("CARGO_FEATURE_LIVE").is_some();
    let linux = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    if !live || !linux || std::env::var_os("LIBPCAP_LIBDIR").is_some() {
        return;
    }
    // pkg-config's folder first (its .pc file alone is not enough: the library must be there).
    let from_pkg_config = Command::new("pkg-config")
        .args(["--variable=libdir", "libpcap"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    let usual = [
        "/usr/lib",
        "/usr/lib64",
        "/usr/local/lib",
        "/usr/lib/x86_64-linux-gnu",
        "/usr/lib/aarch64-linux-gnu",
        "/usr/lib/arm-linux-gnueabihf",
        "/usr/lib/i386-linux-gnu",
    ];
    let found = from_pkg_config
        .iter()
        .map(String::as_str)
        .chain(usual)
        .any(|d| {
            Path::new(d).join("libpcap.so").exists() || Path::new(d).join("libpcap.a").exists()
        });
    if !found {
        eprintln!(
            "error: the `live` feature captures with libpcap, and its development files are not \
             installed.\n  Debian/Ubuntu: sudo apt-get install libpcap-dev\n  Fedora/RHEL:   sudo \
             dnf install libpcap-devel\n  Alpine:        apk add libpcap-dev\nor set LIBPCAP_LIBDIR \
             to the folder holding libpcap.so, or build without `--features live` (reading \
             captures, and `tcpdump -U -w - | rpcscope calls --json -`, need no library)."
        );
        std::process::exit(1);
    }
}
