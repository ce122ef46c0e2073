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

fn module<'py>(py: Python<'py>, code: &str) -> PyResult<Bound<'py, PyModule>> {
    PyModule::from_code(py, &CString::new(code).unwrap(), c"t.py", c"t")
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
