//! What libuv reports about the machine and the process: CPUs, interfaces, memory, load,
//! uptime, resource usage, and the kind of a descriptor.

use std::ffi::CStr;
use std::net::IpAddr;
use std::os::fd::RawFd;

use libuv_sys2::*;

use super::addr;
use super::error::{Result, check};

/// Times a CPU spent in each mode, in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuTimes {
    /// In user mode.
    pub user: u64,
    /// In user mode at low priority.
    pub nice: u64,
    /// In the kernel.
    pub sys: u64,
    /// Idle.
    pub idle: u64,
    /// Serving interrupts.
    pub irq: u64,
}

/// One CPU as `uv_cpu_info` describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpuInfo {
    /// The model name.
    pub model: String,
    /// MHz.
    pub speed: i32,
    /// Time spent in each mode.
    pub times: CpuTimes,
}

/// The CPUs.
///
/// # Errors
///
/// What `uv_cpu_info` reports (`ENOSYS` where unsupported).
///
/// # Examples
///
/// ```
/// assert!(!rsuv::cpu_info()?.is_empty());
/// # Ok::<(), rsuv::Error>(())
/// ```
#[doc(alias = "uv_cpu_info")]
pub fn cpu_info() -> Result<Vec<CpuInfo>> {
    let mut infos: *mut uv_cpu_info_t = std::ptr::null_mut();
    let mut count = 0;
    // SAFETY: both out-pointers are valid; libuv allocates the array.
    check(unsafe { uv_cpu_info(&mut infos, &mut count) })?;
    let n = usize::try_from(count).unwrap_or(0);
    let out = (0..n)
        .map(|i| {
            // SAFETY: `infos` holds `count` entries, read before they are freed below.
            let c = unsafe { &*infos.add(i) };
            let model = if c.model.is_null() {
                String::new()
            } else {
                // SAFETY: a non-null model is a NUL-terminated string owned by the array.
                unsafe { CStr::from_ptr(c.model) }
                    .to_string_lossy()
                    .into_owned()
            };
            let t = c.cpu_times;
            CpuInfo {
                model,
                speed: c.speed,
                times: CpuTimes {
                    user: t.user,
                    nice: t.nice,
                    sys: t.sys,
                    idle: t.idle,
                    irq: t.irq,
                },
            }
        })
        .collect();
    // SAFETY: the array uv_cpu_info made, freed once.
    unsafe { uv_free_cpu_info(infos, count) };
    Ok(out)
}

/// One address of a network interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterfaceAddress {
    /// The interface's name.
    pub name: String,
    /// Loopback.
    pub is_internal: bool,
    /// The address.
    pub address: IpAddr,
    /// Its netmask.
    pub netmask: IpAddr,
    /// The hardware address.
    pub mac: [u8; 6],
}

/// Every address of every interface.
///
/// # Errors
///
/// What `uv_interface_addresses` reports.
///
/// # Examples
///
/// ```
/// let all = rsuv::interface_addresses()?;
/// assert!(all.iter().any(|a| a.is_internal));
/// # Ok::<(), rsuv::Error>(())
/// ```
#[doc(alias = "uv_interface_addresses")]
pub fn interface_addresses() -> Result<Vec<InterfaceAddress>> {
    let mut list: *mut uv_interface_address_t = std::ptr::null_mut();
    let mut count = 0;
    // SAFETY: both out-pointers are valid; libuv allocates the array.
    check(unsafe { uv_interface_addresses(&mut list, &mut count) })?;
    let n = usize::try_from(count).unwrap_or(0);
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        // SAFETY: `list` holds `count` entries, read before they are freed below.
        let a = unsafe { &*list.add(i) };
        // SAFETY: the unions hold a sockaddr_in or sockaddr_in6, told apart by the family
        // both start with; `addr::to_socket_addr` reads only that much.
        let (address, netmask) = unsafe {
            (
                addr::from_sockaddr((&raw const a.address).cast()),
                addr::from_sockaddr((&raw const a.netmask).cast()),
            )
        };
        let (Some(address), Some(netmask)) = (address, netmask) else {
            continue;
        };
        // SAFETY: the name is a NUL-terminated string owned by the array.
        let name = unsafe { CStr::from_ptr(a.name) }
            .to_string_lossy()
            .into_owned();
        out.push(InterfaceAddress {
            name,
            is_internal: a.is_internal != 0,
            address: address.ip(),
            netmask: netmask.ip(),
            mac: a.phys_addr.map(|b| b as u8),
        });
    }
    // SAFETY: the array uv_interface_addresses made, freed once.
    unsafe { uv_free_interface_addresses(list, count) };
    Ok(out)
}

/// The 1, 5 and 15 minute load averages.
#[doc(alias = "uv_loadavg")]
pub fn loadavg() -> [f64; 3] {
    let mut avg = [0.0f64; 3];
    // SAFETY: `avg` has room for the three values.
    unsafe { uv_loadavg(avg.as_mut_ptr()) };
    avg
}

/// Seconds since boot.
///
/// # Errors
///
/// What `uv_uptime` reports.
#[doc(alias = "uv_uptime")]
pub fn uptime() -> Result<f64> {
    let mut t = 0.0;
    // SAFETY: valid out-pointer.
    check(unsafe { uv_uptime(&mut t) })?;
    Ok(t)
}

/// This process's resident set size in bytes.
///
/// # Errors
///
/// What `uv_resident_set_memory` reports.
#[doc(alias = "uv_resident_set_memory")]
pub fn resident_set_memory() -> Result<usize> {
    let mut rss = 0usize;
    // SAFETY: valid out-pointer.
    check(unsafe { uv_resident_set_memory(&mut rss) })?;
    Ok(rss)
}

/// Free memory in bytes.
#[doc(alias = "uv_get_free_memory")]
pub fn free_memory() -> u64 {
    // SAFETY: no preconditions.
    unsafe { uv_get_free_memory() }
}

/// Total memory in bytes.
#[doc(alias = "uv_get_total_memory")]
pub fn total_memory() -> u64 {
    // SAFETY: no preconditions.
    unsafe { uv_get_total_memory() }
}

/// libuv's handle type for a descriptor (`UV_TCP`, `UV_NAMED_PIPE`, `UV_TTY`, `UV_UDP`,
/// `UV_FILE`, or `UV_UNKNOWN_HANDLE` = 0), as a number.
#[doc(alias = "uv_guess_handle")]
pub fn guess_handle(fd: RawFd) -> i32 {
    // SAFETY: uv_guess_handle only fstat()s the descriptor.
    unsafe { uv_guess_handle(fd) as i32 }
}

/// `getrusage(RUSAGE_SELF)` as libuv reports it: times in seconds, the rest as counts.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Rusage {
    /// User CPU time, seconds.
    pub utime: f64,
    /// System CPU time, seconds.
    pub stime: f64,
    /// maxrss, ixrss, idrss, isrss, minflt, majflt, nswap, inblock, oublock, msgsnd,
    /// msgrcv, nsignals, nvcsw, nivcsw, in that order.
    pub counts: [u64; 14],
}

/// Resource usage of this process.
///
/// # Errors
///
/// What `uv_getrusage` reports.
#[doc(alias = "uv_getrusage")]
pub fn getrusage() -> Result<Rusage> {
    // SAFETY: all-zero is a valid uv_rusage_t (plain integers).
    let mut r: uv_rusage_t = unsafe { std::mem::zeroed() };
    // SAFETY: valid out-pointer.
    check(unsafe { uv_getrusage(&mut r) })?;
    let tv = |t: uv_timeval_t| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    Ok(Rusage {
        utime: tv(r.ru_utime),
        stime: tv(r.ru_stime),
        counts: [
            r.ru_maxrss,
            r.ru_ixrss,
            r.ru_idrss,
            r.ru_isrss,
            r.ru_minflt,
            r.ru_majflt,
            r.ru_nswap,
            r.ru_inblock,
            r.ru_oublock,
            r.ru_msgsnd,
            r.ru_msgrcv,
            r.ru_nsignals,
            r.ru_nvcsw,
            r.ru_nivcsw,
        ],
    })
}
