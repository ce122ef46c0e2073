//! rsuv::python: Rust tasks and Python coroutines on one loop (feature `python`; embeds the
//! interpreter, so it needs libpython at run time: `make test` sets LD_LIBRARY_PATH).

use std::cell::Cell;
use std::ffi::CString;
use std::rc::Rc;
use std::sync::Once;
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::PyModule;
use rsuv::python::EventLoop;
use rsuv::rt::sleep;

fn python<R>(f: impl FnOnce(Python<'_>) -> PyResult<R>) -> R {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        rsuv::python::prepare();
        Python::initialize();
        Python::attach(|py| {
            let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/python");
            py.import("sys")?
                .getattr("path")?
                .call_method1("insert", (0, dir))?;
            PyResult::Ok(())
        })
        .unwrap();
    });
    Python::attach(|py| f(py).map_err(|e| e.to_string()).unwrap())
}

/// Each call its own module: the tests run in parallel threads, and one `sys.modules` entry
/// shared by them would let one test's code replace another's functions under it.
fn module<'py>(py: Python<'py>, code: &str) -> PyResult<Bound<'py, PyModule>> {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = CString::new(format!("t{n}")).unwrap();
    let file = CString::new(format!("t{n}.py")).unwrap();
    PyModule::from_code(py, &CString::new(code).unwrap(), &file, &name)
}

#[test]
fn the_extension_is_the_one_linked_into_this_program() {
    python(|py| {
        let m = py.import("rsuv._rsuv")?;
        // A built-in module has no file: this is the code of this test binary.
        assert!(m.getattr("__file__").is_err());
        assert_eq!(
            py.import("rsuv")?
                .getattr("__version__")?
                .extract::<String>()?,
            env!("CARGO_PKG_VERSION")
        );
        Ok(())
    })
}

#[test]
fn python_awaits_a_rust_future_and_rust_awaits_a_python_coroutine() {
    python(|py| {
        let lp = EventLoop::new(py)?;
        let m = module(
            py,
            "import asyncio\nasync def twice(x):\n    await asyncio.sleep(0.001)\n    return 2 * x\nasync def main(f):\n    return (await f) + 1\n",
        )?;
        let seen = Rc::new(Cell::new(0i64));
        let s = seen.clone();
        let fut = lp.into_future(py, &m.getattr("twice")?.call1((21,))?)?;
        lp.spawn_local(py, async move {
            let v = fut.await;
            s.set(Python::attach(|py| v.and_then(|v| v.extract::<i64>(py))).unwrap());
        })?
        .detach();
        let rust = lp.future_into_py(py, async {
            sleep(Duration::from_millis(2)).await;
            Python::attach(|py| Ok(41i64.into_pyobject(py)?.into_any().unbind()))
        })?;
        let out = lp.run_until_complete(py, &m.getattr("main")?.call1((rust,))?)?;
        assert_eq!(out.extract::<i64>(py)?, 42);
        assert_eq!(seen.get(), 42);
        lp.close(py)
    })
}

#[test]
fn a_rust_error_reaches_python_and_a_python_exception_reaches_rust() {
    python(|py| {
        let lp = EventLoop::new(py)?;
        let m = module(
            py,
            "async def boom():\n    raise KeyError('py')\nimport asyncio\nasync def main(f):\n    try:\n        await f\n    except ValueError as e:\n        await asyncio.sleep(0.01)\n        return str(e)\n",
        )?;
        let failed = Rc::new(Cell::new(false));
        let f2 = failed.clone();
        let fut = lp.into_future(py, &m.getattr("boom")?.call0()?)?;
        lp.spawn_local(py, async move {
            let err = fut.await.unwrap_err();
            f2.set(Python::attach(|py| {
                err.is_instance_of::<pyo3::exceptions::PyKeyError>(py)
            }));
        })?
        .detach();
        let rust = lp.future_into_py(py, async {
            Err(pyo3::exceptions::PyValueError::new_err("from rust"))
        })?;
        let out = lp.run_until_complete(py, &m.getattr("main")?.call1((rust,))?)?;
        assert_eq!(out.extract::<String>(py)?, "from rust");
        assert!(failed.get());
        lp.close(py)
    })
}

#[test]
fn cancelling_the_python_future_drops_the_rust_task() {
    python(|py| {
        let lp = EventLoop::new(py)?;
        struct Flag(Rc<Cell<bool>>);
        impl Drop for Flag {
            fn drop(&mut self) {
                self.0.set(true);
            }
        }
        let dropped = Rc::new(Cell::new(false));
        let flag = Flag(dropped.clone());
        let rust = lp.future_into_py(py, async move {
            let _flag = flag;
            sleep(Duration::from_secs(3600)).await;
            Python::attach(|py| Ok(py.None()))
        })?;
        let m = module(
            py,
            "import asyncio\nasync def main(f):\n    await asyncio.sleep(0.005)\n    f.cancel()\n    await asyncio.sleep(0.005)\n    return f.cancelled()\n",
        )?;
        let out = lp.run_until_complete(py, &m.getattr("main")?.call1((rust,))?)?;
        assert!(out.extract::<bool>(py)?);
        assert!(dropped.get(), "the Rust future was dropped");
        lp.close(py)
    })
}

#[test]
fn an_rsuv_loop_made_in_rust_runs_its_handles_and_asyncio_together() {
    python(|py| {
        let uv = rsuv::Loop::new().unwrap();
        let fired = Rc::new(Cell::new(false));
        let f = fired.clone();
        let timer = rsuv::Timer::new(&uv).unwrap();
        timer
            .start(Duration::from_millis(1), Duration::ZERO, move |_| {
                f.set(true)
            })
            .unwrap();
        let lp = EventLoop::with_loop(py, uv)?;
        let sleep = py.import("asyncio")?.call_method1("sleep", (0.02,))?;
        lp.run_until_complete(py, &sleep)?;
        assert!(
            fired.get(),
            "the uv Timer made before ran on the asyncio loop"
        );
        drop(timer);
        lp.close(py)
    })
}

/// A host program, as a C program would be: its own `uv_loop_t` and a repeating timer of its
/// own that counts its ticks. (This test plays C: plain libuv calls on memory owned here.)
struct Host {
    raw: *mut libuv_sys2::uv_loop_t,
    _mem: Vec<u64>,
    timer: Box<libuv_sys2::uv_timer_t>,
    ticks: Box<Cell<u32>>,
}

/// The host's timer callback: counts ticks in the `Cell<u32>` behind the timer's `data`.
unsafe extern "C" fn host_tick(t: *mut libuv_sys2::uv_timer_t) {
    // SAFETY: `data` is the host's live counter, set before the timer started.
    let ticks = unsafe { &*(*t).data.cast::<Cell<u32>>() };
    ticks.set(ticks.get() + 1);
}

impl Host {
    fn new() -> Host {
        use libuv_sys2::*;
        // SAFETY: no preconditions.
        let size = unsafe { uv_loop_size() };
        let mut mem = vec![0u64; size.div_ceil(8)];
        let raw = mem.as_mut_ptr().cast::<uv_loop_t>();
        // SAFETY: `raw` is writable, aligned memory of uv_loop_size() bytes, kept in `_mem`.
        assert_eq!(unsafe { uv_loop_init(raw) }, 0);
        // SAFETY: uv_timer_t is a plain C struct; all-zero is a valid "not yet initialized".
        let mut timer: Box<uv_timer_t> = Box::new(unsafe { std::mem::zeroed() });
        let ticks = Box::new(Cell::new(0u32));
        // SAFETY: the loop is initialized; the timer and counter are boxed (never move) and
        // outlive the loop's use of them (closed in `close`).
        unsafe {
            assert_eq!(uv_timer_init(raw, &mut *timer), 0);
            timer.data = (&*ticks as *const Cell<u32>).cast_mut().cast();
            assert_eq!(uv_timer_start(&mut *timer, Some(host_tick), 5, 5), 0);
        }
        Host {
            raw,
            _mem: mem,
            timer,
            ticks,
        }
    }

    fn timer_active(&mut self) -> bool {
        // SAFETY: the timer is an initialized handle on the host's open loop.
        unsafe { libuv_sys2::uv_is_active((&raw mut *self.timer).cast()) != 0 }
    }

    fn run_once(&self) {
        // SAFETY: the loop is initialized and not running.
        unsafe { libuv_sys2::uv_run(self.raw, libuv_sys2::uv_run_mode_UV_RUN_ONCE) };
    }

    /// Closes the host's timer and then its loop: `uv_loop_close`'s result (`EBUSY` if a
    /// handle of anyone's were left on it).
    fn close(mut self) -> i32 {
        use libuv_sys2::*;
        // SAFETY: the timer is open; after the default run its close callback (none) is done,
        // and the loop has nothing of ours left (checked by the result).
        unsafe {
            uv_close((&raw mut *self.timer).cast(), None);
            uv_run(self.raw, uv_run_mode_UV_RUN_DEFAULT);
            uv_loop_close(self.raw)
        }
    }
}

#[test]
fn asyncio_runs_on_a_host_programs_libuv_loop_and_leaves_the_host_its_handles() {
    let mut host = Host::new();
    python(|py| {
        let ptr = std::ptr::NonNull::new(host.raw.cast()).unwrap();
        // SAFETY: the capsule only carries the pointer; the loop outlives its use below.
        let cap = unsafe { pyo3::types::PyCapsule::new_with_pointer(py, ptr, c"uv_loop_t") }?;
        let m = module(
            py,
            "import asyncio, rsuv, threading\n\
             def main(cap):\n    lp = rsuv.Loop(libuv_loop=cap)\n    seen = []\n\
             \x20   async def work():\n\
             \x20       t = threading.Timer(0.01, lambda: lp.call_soon_threadsafe(seen.append, 'thread'))\n\
             \x20       t.start()\n        await asyncio.sleep(0.06)\n        t.join()\n        return seen\n\
             \x20   try:\n        return lp.run_until_complete(work())\n    finally:\n        lp.close()\n",
        )?;
        let seen: Vec<String> = m.getattr("main")?.call1((cap,))?.extract()?;
        assert_eq!(seen, ["thread"]);
        Ok(())
    });
    // The host's timer ran while asyncio ran the loop, and is still the host's, still active.
    let during = host.ticks.get();
    assert!(during >= 3, "host timer ticked {during} times in 60 ms");
    assert!(host.timer_active());
    host.run_once();
    assert!(host.ticks.get() > during);
    // Nothing of rsuv's is left on the loop: it closes cleanly once the host's timer is closed.
    assert_eq!(host.close(), 0);
}

#[test]
fn a_capsule_of_an_rsuv_loop_or_of_anything_else_is_refused() {
    python(|py| {
        let m = module(
            py,
            "import rsuv\n\
             def main():\n    a = rsuv.new_event_loop()\n    out = []\n\
             \x20   for bad in (a.libuv_loop(), 42):\n        try:\n            rsuv.Loop(libuv_loop=bad)\n\
             \x20       except (TypeError, ValueError) as e:\n            out.append(type(e).__name__)\n\
             \x20   a.close()\n    return out\n",
        )?;
        let out: Vec<String> = m.getattr("main")?.call0()?.extract()?;
        assert_eq!(out, ["ValueError", "TypeError"]);
        Ok(())
    })
}
