//! Negotiate (SPNEGO with Kerberos) for a proxy, with the user's current credentials: their
//! ticket cache, as `kinit` or the desktop's login left it. No password is stored.
//!
//! GSS-API is the system's (MIT Kerberos' `libgssapi_krb5.so.2`), opened when first needed,
//! so that the engine runs where Kerberos is not installed and says so when a proxy asks
//! for Negotiate. Each connection gets a token of its own (a new security context): proxies
//! keep a replay cache and refuse a token seen before.

use std::ffi::c_void;
use std::ptr;
use std::sync::OnceLock;

use libloading::Library;

/// `gss_buffer_desc`.
#[repr(C)]
struct Buffer {
    length: usize,
    value: *mut c_void,
}

/// `gss_OID_desc`.
#[repr(C)]
struct Oid {
    length: u32,
    elements: *mut c_void,
}

type ImportName =
    unsafe extern "C" fn(*mut u32, *const Buffer, *const Oid, *mut *mut c_void) -> u32;
type InitSecContext = unsafe extern "C" fn(
    *mut u32,
    *mut c_void,
    *mut *mut c_void,
    *mut c_void,
    *const Oid,
    u32,
    u32,
    *mut c_void,
    *const Buffer,
    *mut *const Oid,
    *mut Buffer,
    *mut u32,
    *mut u32,
) -> u32;
type ReleaseBuffer = unsafe extern "C" fn(*mut u32, *mut Buffer) -> u32;
type ReleaseName = unsafe extern "C" fn(*mut u32, *mut *mut c_void) -> u32;
type DeleteSecContext = unsafe extern "C" fn(*mut u32, *mut *mut c_void, *mut Buffer) -> u32;
type DisplayStatus =
    unsafe extern "C" fn(*mut u32, u32, i32, *const Oid, *mut u32, *mut Buffer) -> u32;

/// 1.2.840.113554.1.2.1.4, `GSS_C_NT_HOSTBASED_SERVICE` (`HTTP@proxy.example.com`).
const HOSTBASED_SERVICE: [u8; 10] = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x01, 0x04];
/// 1.3.6.1.5.5.2, SPNEGO: the mechanism `Negotiate` names.
const SPNEGO: [u8; 6] = [0x2b, 0x06, 0x01, 0x05, 0x05, 0x02];

const COMPLETE: u32 = 0;
const CONTINUE_NEEDED: u32 = 1;
/// `GSS_C_GSS_CODE`, `GSS_C_MECH_CODE`.
const GSS_CODE: i32 = 1;
const MECH_CODE: i32 = 2;

struct Gssapi {
    _library: Library,
    import_name: ImportName,
    init_sec_context: InitSecContext,
    release_buffer: ReleaseBuffer,
    release_name: ReleaseName,
    delete_sec_context: DeleteSecContext,
    display_status: DisplayStatus,
}

// SAFETY: the functions are plain C functions of a library that stays loaded; GSS-API is
// thread-safe for distinct contexts, and each call here uses its own.
unsafe impl Send for Gssapi {}
unsafe impl Sync for Gssapi {}

fn gssapi() -> Result<&'static Gssapi, String> {
    static GSSAPI: OnceLock<Result<Gssapi, String>> = OnceLock::new();
    GSSAPI
        .get_or_init(|| {
            // SAFETY: loading the system's GSS-API library runs its initialisers, which
            // have no preconditions.
            let library = unsafe { Library::new("libgssapi_krb5.so.2") }.map_err(|error| {
                format!("Kerberos (GSS-API, libgssapi_krb5.so.2) is not installed: {error}")
            })?;
            // SAFETY: each symbol has the C signature of RFC 2744 that its type states.
            unsafe {
                let symbol = |name: &[u8]| {
                    library
                        .get::<*mut c_void>(name)
                        .map(|symbol| *symbol)
                        .map_err(|error| {
                            format!("GSS-API lacks {}: {error}", String::from_utf8_lossy(name))
                        })
                };
                Ok(Gssapi {
                    import_name: std::mem::transmute::<*mut c_void, ImportName>(symbol(
                        b"gss_import_name",
                    )?),
                    init_sec_context: std::mem::transmute::<*mut c_void, InitSecContext>(symbol(
                        b"gss_init_sec_context",
                    )?),
                    release_buffer: std::mem::transmute::<*mut c_void, ReleaseBuffer>(symbol(
                        b"gss_release_buffer",
                    )?),
                    release_name: std::mem::transmute::<*mut c_void, ReleaseName>(symbol(
                        b"gss_release_name",
                    )?),
                    delete_sec_context: std::mem::transmute::<*mut c_void, DeleteSecContext>(
                        symbol(b"gss_delete_sec_context")?,
                    ),
                    display_status: std::mem::transmute::<*mut c_void, DisplayStatus>(symbol(
                        b"gss_display_status",
                    )?),
                    _library: library,
                })
            }
        })
        .as_ref()
        .map_err(Clone::clone)
}

impl Gssapi {
    /// The words of a GSS-API status (major and minor).
    fn words(&self, major: u32, minor: u32) -> String {
        let mut words = Vec::new();
        for (code, kind) in [(major, GSS_CODE), (minor, MECH_CODE)] {
            if code == 0 {
                continue;
            }
            let mut context = 0u32;
            loop {
                let (mut ignored, mut text) = (
                    0u32,
                    Buffer {
                        length: 0,
                        value: ptr::null_mut(),
                    },
                );
                // SAFETY: `text` is released below; a null mechanism is the default.
                let status = unsafe {
                    (self.display_status)(
                        &mut ignored,
                        code,
                        kind,
                        ptr::null(),
                        &mut context,
                        &mut text,
                    )
                };
                if status != COMPLETE {
                    break;
                }
                if !text.value.is_null() {
                    // SAFETY: GSS-API gave `length` bytes at `value`.
                    let bytes =
                        unsafe { std::slice::from_raw_parts(text.value as *const u8, text.length) };
                    let word = String::from_utf8_lossy(bytes)
                        .trim_end_matches('\0')
                        .to_string();
                    if !word.is_empty() && !words.contains(&word) {
                        words.push(word);
                    }
                }
                // SAFETY: `text` came from GSS-API.
                unsafe { (self.release_buffer)(&mut ignored, &mut text) };
                if context == 0 {
                    break;
                }
            }
        }
        words.join(": ")
    }
}

/// A fresh `Negotiate` token for the proxy on `host` (service `HTTP@host`) from the user's
/// ticket cache, or why there is none (no ticket, no Kerberos, the KDC does not know the
/// proxy). Blocking: it may ask the KDC for a service ticket.
pub fn token(host: &str) -> Result<Vec<u8>, String> {
    let gss = gssapi()?;
    let service = format!("HTTP@{host}");
    let mut minor = 0u32;
    let name_buffer = Buffer {
        length: service.len(),
        value: service.as_ptr() as *mut c_void,
    };
    let hostbased = Oid {
        length: HOSTBASED_SERVICE.len() as u32,
        elements: HOSTBASED_SERVICE.as_ptr() as *mut c_void,
    };
    let mut name: *mut c_void = ptr::null_mut();
    // SAFETY: the buffers point at live bytes for the call; `name` is released below.
    let major = unsafe { (gss.import_name)(&mut minor, &name_buffer, &hostbased, &mut name) };
    if major != COMPLETE {
        return Err(format!(
            "the proxy's Kerberos name {service}: {}",
            gss.words(major, minor)
        ));
    }
    let spnego = Oid {
        length: SPNEGO.len() as u32,
        elements: SPNEGO.as_ptr() as *mut c_void,
    };
    let mut context: *mut c_void = ptr::null_mut();
    let mut output = Buffer {
        length: 0,
        value: ptr::null_mut(),
    };
    // SAFETY: default credentials (null), a new context, no channel bindings, no input
    // token; `output` and `context` are released below.
    let major = unsafe {
        (gss.init_sec_context)(
            &mut minor,
            ptr::null_mut(),
            &mut context,
            name,
            &spnego,
            0,
            0,
            ptr::null_mut(),
            ptr::null(),
            ptr::null_mut(),
            &mut output,
            ptr::null_mut(),
            ptr::null_mut(),
        )
    };
    let result = if (major == COMPLETE || major == CONTINUE_NEEDED) && !output.value.is_null() {
        // SAFETY: GSS-API gave `length` bytes at `value`.
        Ok(
            unsafe { std::slice::from_raw_parts(output.value as *const u8, output.length) }
                .to_vec(),
        )
    } else {
        Err(gss.words(major, minor))
    };
    let mut ignored = 0u32;
    // SAFETY: each was made by GSS-API above (or is null, which the calls accept).
    unsafe {
        (gss.release_buffer)(&mut ignored, &mut output);
        if !context.is_null() {
            (gss.delete_sec_context)(&mut ignored, &mut context, ptr::null_mut());
        }
        (gss.release_name)(&mut ignored, &mut name);
    }
    result
}
