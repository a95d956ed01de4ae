//! The operations: start and stop a takeover, vifs online and offline,
//! status, recover; and the one deallocator of strings xenbr returns.

use std::ffi::{c_char, CString};

use serde::Serialize;
use xenbr_core::{Error, IfName, Mode, Mtu, Pair, Result, StartRequest, StopRequest, VifRequest};

use crate::args;
use crate::context::xenbr_context;
use crate::guard::{self, catch};
use crate::result::xenbr_result;
use crate::types::{xenbr_mode, xenbr_start_options, xenbr_stop_options, xenbr_vif};

/// Hands `json` to the caller through `out`, when `out` is not NULL.
///
/// # Safety
/// `out` is NULL or writable.
unsafe fn give(out: *mut *mut c_char, json: String) -> Result<()> {
    if out.is_null() {
        return Ok(());
    }
    // JSON escapes NUL, so this cannot fail; if it did, nothing is written.
    let s = CString::new(json).map_err(|e| Error::internal("return JSON", e))?;
    // SAFETY: non-NULL and writable (caller).
    unsafe { *out = s.into_raw() };
    Ok(())
}

/// `v` as the JSON an outcome is returned in.
fn json(v: &impl Serialize) -> Result<String> {
    serde_json::to_string_pretty(v).map_err(|e| Error::internal("serialise the outcome", e))
}

/// The start request `opts` describes.
///
/// # Safety
/// As [`xenbr_start`]'s `opts`.
unsafe fn start_request(opts: *const xenbr_start_options, func: &str) -> Result<StartRequest> {
    // SAFETY: NULL or a readable struct (caller).
    let o = unsafe { opts.as_ref() }.ok_or_else(|| Error::invalid(func, "opts is NULL"))?;
    let mode = match o.mode {
        m if m == xenbr_mode::Classic as u32 => Mode::Classic,
        m if m == xenbr_mode::Bridge as u32 => Mode::Bridge,
        m => {
            return Err(Error::invalid(
                func,
                format!("opts->mode is {m}, not XENBR_MODE_CLASSIC (0) or XENBR_MODE_BRIDGE (1)"),
            ))
        }
    };
    let mut pairs = Vec::new();
    // SAFETY (all below): pointers in `opts` are as the caller vouched.
    let netdev = unsafe { args::opt_ifname(o.netdev, func, "opts->netdev", None) }?;
    let bridge = unsafe { args::opt_ifname(o.bridge, func, "opts->bridge", netdev.as_ref()) }?;
    if netdev.is_some() || bridge.is_some() {
        pairs.push(Pair { netdev, bridge });
    }
    let more = unsafe { args::array(o.pairs, o.pairs_len, func, "opts->pairs", true) }?;
    for (i, p) in more.iter().enumerate() {
        let at = format!("opts->pairs[{i}]");
        let netdev = unsafe { args::opt_ifname(p.netdev, func, &format!("{at}.netdev"), None) }?;
        let bridge =
            unsafe { args::opt_ifname(p.bridge, func, &format!("{at}.bridge"), netdev.as_ref()) }?;
        pairs.push(Pair { netdev, bridge });
    }
    Ok(StartRequest { mode, pairs })
}

/// Takes over NICs and puts each on its bridge, in one transaction: Xen's
/// `network-bridge start` (`xenbr start`). Every address and route of the
/// NIC moves with dom0's identity. Pairs already in place are left alone.
/// The takeover is recorded in the state directory for xenbr_stop().
///
/// `opts` is read during the call only. When `outcome_json` is not NULL, on
/// success it receives a JSON object `{"started": [...], "already": [...],
/// "applied": {"steps": N, "requests": N}}`, owned by the caller, freed with
/// xenbr_string_free().
///
/// Needs CAP_NET_ADMIN. On any failure the host is as it was.
///
/// # Safety
/// `ctx` is NULL or a live context no other thread is using; `opts` is NULL
/// or a readable xenbr_start_options whose pointers are NULL or valid;
/// `outcome_json` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn xenbr_start(
    ctx: *mut xenbr_context,
    opts: *const xenbr_start_options,
    outcome_json: *mut *mut c_char,
) -> xenbr_result {
    const FUNC: &str = "xenbr_start";
    // SAFETY: passed on from the caller.
    unsafe {
        guard::call(ctx, FUNC, |host| {
            let req = start_request(opts, FUNC)?;
            let done = json(&host.start(&req)?)?;
            give(outcome_json, done)
        })
    }
}

/// Undoes takeovers, in one transaction: Xen's `network-bridge stop`
/// (`xenbr stop`). The NIC gets back its name and dom0's current
/// addresses and routes; the bridge and the veth pair are removed.
///
/// `opts` is required (zero-initialised: every takeover, no force) and read
/// during the call only. Guests still on a bridge make it fail with
/// XENBR_RESULT_CONFLICT unless `opts->force`. When `outcome_json` is not
/// NULL, on success it receives `{"stopped": [...], "detached": [...],
/// "applied": {...}}`, owned by the caller, freed with xenbr_string_free().
///
/// Needs CAP_NET_ADMIN. On any failure the host is as it was.
///
/// # Safety
/// `ctx` is NULL or a live context no other thread is using; `opts` is NULL
/// or a readable xenbr_stop_options whose `bridges` holds `bridges_len`
/// pointers, each NULL or a NUL-terminated string; `outcome_json` is NULL
/// or writable.
#[no_mangle]
pub unsafe extern "C" fn xenbr_stop(
    ctx: *mut xenbr_context,
    opts: *const xenbr_stop_options,
    outcome_json: *mut *mut c_char,
) -> xenbr_result {
    const FUNC: &str = "xenbr_stop";
    // SAFETY: passed on from the caller.
    unsafe {
        guard::call(ctx, FUNC, |host| {
            let o = opts
                .as_ref()
                .ok_or_else(|| Error::invalid(FUNC, "opts is NULL"))?;
            let names = args::array(o.bridges, o.bridges_len, FUNC, "opts->bridges", true)?;
            let bridges = names
                .iter()
                .enumerate()
                .map(|(i, &b)| args::ifname(b, FUNC, &format!("opts->bridges[{i}]")))
                .collect::<Result<Vec<IfName>>>()?;
            let req = StopRequest {
                bridges,
                force: o.force,
            };
            let done = json(&host.stop(&req)?)?;
            give(outcome_json, done)
        })
    }
}

/// The request `v` describes; `at` names it in messages (`vifs[3]`).
///
/// # Safety
/// `v`'s pointers are NULL or NUL-terminated strings.
unsafe fn vif_request(v: &xenbr_vif, func: &str, at: &str) -> Result<VifRequest> {
    // SAFETY (all below): as the caller vouched.
    let name = unsafe { args::ifname(v.name, func, &format!("{at}.name")) }?;
    let own = Some(&name);
    let bridge = unsafe { args::opt_ifname(v.bridge, func, &format!("{at}.bridge"), own) }?;
    let vifname = unsafe { args::opt_ifname(v.vifname, func, &format!("{at}.vifname"), own) }?;
    let mtu = match v.mtu {
        0 => None,
        m => Some(
            Mtu::new(m).map_err(|e| Error::invalid(func, format!("{at}.mtu: {e}")).about(&name))?,
        ),
    };
    Ok(VifRequest {
        name,
        bridge,
        mtu,
        vifname,
    })
}

/// Puts one guest's interface on its bridge: xenbr_vif_online_many() with
/// one entry (see there for what it does and returns).
///
/// # Safety
/// `ctx` is NULL or a live context no other thread is using; `vif` is NULL
/// or a readable xenbr_vif whose strings are NULL or NUL-terminated;
/// `outcome_json` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn xenbr_vif_online(
    ctx: *mut xenbr_context,
    vif: *const xenbr_vif,
    outcome_json: *mut *mut c_char,
) -> xenbr_result {
    const FUNC: &str = "xenbr_vif_online";
    // SAFETY: passed on from the caller.
    unsafe {
        guard::call(ctx, FUNC, |host| {
            let v = vif
                .as_ref()
                .ok_or_else(|| Error::invalid(FUNC, "vif is NULL"))?;
            let req = vif_request(v, FUNC, "vif")?;
            let done = json(&host.vif_online(&[req])?)?;
            give(outcome_json, done)
        })
    }
}

/// Puts guests' interfaces on their bridges, in one transaction: Xen's
/// `vif-bridge online` (`xenbr vif online`) for the `vifs_len` entries of
/// `vifs`, all or nothing. Each interface goes down, gets MAC
/// fe:ff:ff:ff:ff:ff, loses its addresses, takes the bridge's MTU (or the
/// one asked), is renamed if asked, joins the bridge and comes up.
/// Interfaces already attached as asked are left alone.
///
/// An empty array, or an entry with a NULL `name`, is
/// XENBR_RESULT_INVALID_ARGUMENT. After any failure,
/// xenbr_context_error_interface() names the entry that failed. When
/// `outcome_json` is not NULL, on success it receives `{"attached":
/// [[vif, bridge], ...], "unchanged": [...], ...}`, owned by the caller,
/// freed with xenbr_string_free().
///
/// Needs CAP_NET_ADMIN. On any failure the host is as it was.
///
/// # Safety
/// `ctx` is NULL or a live context no other thread is using; `vifs` is NULL
/// or points to `vifs_len` readable xenbr_vif whose strings are NULL or
/// NUL-terminated; `outcome_json` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn xenbr_vif_online_many(
    ctx: *mut xenbr_context,
    vifs: *const xenbr_vif,
    vifs_len: usize,
    outcome_json: *mut *mut c_char,
) -> xenbr_result {
    const FUNC: &str = "xenbr_vif_online_many";
    // SAFETY: passed on from the caller.
    unsafe {
        guard::call(ctx, FUNC, |host| {
            let reqs = args::array(vifs, vifs_len, FUNC, "vifs", false)?
                .iter()
                .enumerate()
                .map(|(i, v)| vif_request(v, FUNC, &format!("vifs[{i}]")))
                .collect::<Result<Vec<_>>>()?;
            let done = json(&host.vif_online(&reqs)?)?;
            give(outcome_json, done)
        })
    }
}

/// Takes one guest's interface down and off its bridge:
/// xenbr_vif_offline_many() with one name (see there).
///
/// # Safety
/// `ctx` is NULL or a live context no other thread is using; `name` is NULL
/// or a NUL-terminated string; `outcome_json` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn xenbr_vif_offline(
    ctx: *mut xenbr_context,
    name: *const c_char,
    outcome_json: *mut *mut c_char,
) -> xenbr_result {
    const FUNC: &str = "xenbr_vif_offline";
    // SAFETY: passed on from the caller.
    unsafe {
        guard::call(ctx, FUNC, |host| {
            let name = args::ifname(name, FUNC, "name")?;
            let done = json(&host.vif_offline(&[name])?)?;
            give(outcome_json, done)
        })
    }
}

/// Takes guests' interfaces down and off their bridges, in one
/// transaction: Xen's `vif-bridge offline` (`xenbr vif offline`) for the
/// `names_len` names in `names`. An interface that no longer exists is
/// not an error (the backend may have removed it first): the outcome lists
/// it as "gone".
///
/// An empty array or a NULL name is XENBR_RESULT_INVALID_ARGUMENT. When
/// `outcome_json` is not NULL, on success it receives `{"detached": [...],
/// "unchanged": [...], "gone": [...], ...}`, owned by the caller, freed
/// with xenbr_string_free().
///
/// Needs CAP_NET_ADMIN. On any failure the host is as it was.
///
/// # Safety
/// `ctx` is NULL or a live context no other thread is using; `names` is
/// NULL or points to `names_len` pointers, each NULL or a NUL-terminated
/// string; `outcome_json` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn xenbr_vif_offline_many(
    ctx: *mut xenbr_context,
    names: *const *const c_char,
    names_len: usize,
    outcome_json: *mut *mut c_char,
) -> xenbr_result {
    const FUNC: &str = "xenbr_vif_offline_many";
    // SAFETY: passed on from the caller.
    unsafe {
        guard::call(ctx, FUNC, |host| {
            let names = args::array(names, names_len, FUNC, "names", false)?
                .iter()
                .enumerate()
                .map(|(i, &n)| args::ifname(n, FUNC, &format!("names[{i}]")))
                .collect::<Result<Vec<_>>>()?;
            let done = json(&host.vif_offline(&names)?)?;
            give(outcome_json, done)
        })
    }
}

/// The host's state as JSON, what `xenbr status --json` prints: `links`,
/// `addresses`, `routes`, the recorded `takeovers`, and `unfinished` (a
/// transaction that was cut off, or null). Changes nothing; needs no
/// privilege.
///
/// On success `*json_out` receives the string, owned by the caller, freed
/// with xenbr_string_free(). `json_out` is required.
///
/// # Safety
/// `ctx` is NULL or a live context no other thread is using; `json_out` is
/// NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn xenbr_status(
    ctx: *mut xenbr_context,
    json_out: *mut *mut c_char,
) -> xenbr_result {
    const FUNC: &str = "xenbr_status";
    // SAFETY: passed on from the caller.
    unsafe {
        guard::call(ctx, FUNC, |host| {
            args::out(json_out, FUNC, "json_out")?;
            let status = host.status()?.to_json();
            give(json_out, status)
        })
    }
}

/// Undoes a transaction that was cut off (its process killed half-way),
/// restoring the host and xenbr's records to what they were before it:
/// `xenbr recover`. Safe at any time; with nothing to undo it does nothing.
/// Operations refuse to run while such a transaction is pending
/// (XENBR_RESULT_CONFLICT).
///
/// When `outcome_json` is not NULL, on success it receives `"nothing"` or
/// `{"undone": {"what": ..., "pid": N, "steps": N}}`, owned by the caller,
/// freed with xenbr_string_free().
///
/// # Safety
/// `ctx` is NULL or a live context no other thread is using;
/// `outcome_json` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn xenbr_recover(
    ctx: *mut xenbr_context,
    outcome_json: *mut *mut c_char,
) -> xenbr_result {
    const FUNC: &str = "xenbr_recover";
    // SAFETY: passed on from the caller.
    unsafe {
        guard::call(ctx, FUNC, |host| {
            let done = json(&host.recover()?)?;
            give(outcome_json, done)
        })
    }
}

/// Frees a string xenbr returned (status or outcome JSON). NULL is
/// accepted and does nothing. Only for strings from xenbr, and each only
/// once; never pass them to free().
///
/// # Safety
/// `s` is NULL or a string from xenbr not freed before.
#[no_mangle]
pub unsafe extern "C" fn xenbr_string_free(s: *mut c_char) {
    catch((), || {
        if !s.is_null() {
            // SAFETY: made by CString::into_raw in `give`, freed once (caller).
            drop(unsafe { CString::from_raw(s) });
        }
    })
}

/// Test hook, in debug builds only and not in the header: panics inside
/// the library, as a defect would. With a context the panic goes through
/// the same path as every operation (the context keeps it as its error and
/// is poisoned); without one, through the bare guard.
///
/// # Safety
/// `ctx` is NULL or a live context no other thread is using.
#[cfg(debug_assertions)]
#[doc(hidden)]
#[no_mangle]
pub unsafe extern "C" fn xenbr__test_panic(ctx: *mut xenbr_context) -> xenbr_result {
    const FUNC: &str = "xenbr__test_panic";
    catch(xenbr_result::Panic, || {
        if ctx.is_null() {
            panic!("{FUNC} without a context");
        }
        // SAFETY: passed on from the caller.
        unsafe { guard::call(ctx, FUNC, |_| panic!("{FUNC} was called")) }
    })
}
