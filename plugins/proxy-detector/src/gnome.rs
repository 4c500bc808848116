//! GNOME's proxy settings, `org.gnome.system.proxy*`, read through GSettings with GIO as
//! Chromium reads them, so that every GSettings backend works (dconf on a desktop,
//! `GSETTINGS_BACKEND=keyfile` in the tests). GIO is opened when first needed: where it is
//! absent, or the schema is not installed, GNOME has no answer and detection goes on to
//! the environment.

use std::ffi::{c_char, c_void, CStr, CString};
use std::sync::OnceLock;

use libloading::Library;

/// What GNOME says for one URL scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gnome {
    /// `mode='none'`: direct.
    Direct,
    /// `mode='manual'`: the proxy for the scheme (`None`: none set for it, so direct), and
    /// `ignore-hosts`.
    Manual {
        /// `http://host:port` or `socks5://host:port`.
        proxy: Option<String>,
        /// The bypass rules.
        ignore_hosts: Vec<String>,
    },
    /// `mode='auto'`: the PAC URL (`None`: WPAD).
    Auto(Option<String>),
}

type SchemaSourceDefault = unsafe extern "C" fn() -> *mut c_void;
type SchemaSourceLookup = unsafe extern "C" fn(*mut c_void, *const c_char, i32) -> *mut c_void;
type SchemaUnref = unsafe extern "C" fn(*mut c_void);
type SettingsNew = unsafe extern "C" fn(*const c_char) -> *mut c_void;
type SettingsGetChild = unsafe extern "C" fn(*mut c_void, *const c_char) -> *mut c_void;
type SettingsGetString = unsafe extern "C" fn(*mut c_void, *const c_char) -> *mut c_char;
type SettingsGetInt = unsafe extern "C" fn(*mut c_void, *const c_char) -> i32;
type SettingsGetBoolean = unsafe extern "C" fn(*mut c_void, *const c_char) -> i32;
type SettingsGetStrv = unsafe extern "C" fn(*mut c_void, *const c_char) -> *mut *mut c_char;
type ObjectUnref = unsafe extern "C" fn(*mut c_void);
type Free = unsafe extern "C" fn(*mut c_void);
type StrFreev = unsafe extern "C" fn(*mut *mut c_char);

struct Gio {
    _library: Library,
    schema_source_default: SchemaSourceDefault,
    schema_source_lookup: SchemaSourceLookup,
    schema_unref: SchemaUnref,
    settings_new: SettingsNew,
    settings_get_child: SettingsGetChild,
    settings_get_string: SettingsGetString,
    settings_get_int: SettingsGetInt,
    settings_get_boolean: SettingsGetBoolean,
    settings_get_strv: SettingsGetStrv,
    object_unref: ObjectUnref,
    free: Free,
    strfreev: StrFreev,
}

// SAFETY: plain C functions of a library that stays loaded; GSettings objects are made,
// read and released within one call on one thread.
unsafe impl Send for Gio {}
unsafe impl Sync for Gio {}

fn gio() -> Option<&'static Gio> {
    static GIO: OnceLock<Option<Gio>> = OnceLock::new();
    GIO.get_or_init(|| {
        // SAFETY: loading GIO runs its initialisers, which have no preconditions.
        let library = unsafe { Library::new("libgio-2.0.so.0") }.ok()?;
        // SAFETY: each symbol has the C signature of GIO's and GLib's API its type states.
        unsafe {
            let symbol = |name: &[u8]| library.get::<*mut c_void>(name).map(|symbol| *symbol).ok();
            Some(Gio {
                schema_source_default: std::mem::transmute::<*mut c_void, SchemaSourceDefault>(
                    symbol(b"g_settings_schema_source_get_default")?,
                ),
                schema_source_lookup: std::mem::transmute::<*mut c_void, SchemaSourceLookup>(
                    symbol(b"g_settings_schema_source_lookup")?,
                ),
                schema_unref: std::mem::transmute::<*mut c_void, SchemaUnref>(symbol(
                    b"g_settings_schema_unref",
                )?),
                settings_new: std::mem::transmute::<*mut c_void, SettingsNew>(symbol(
                    b"g_settings_new",
                )?),
                settings_get_child: std::mem::transmute::<*mut c_void, SettingsGetChild>(symbol(
                    b"g_settings_get_child",
                )?),
                settings_get_string: std::mem::transmute::<*mut c_void, SettingsGetString>(symbol(
                    b"g_settings_get_string",
                )?),
                settings_get_int: std::mem::transmute::<*mut c_void, SettingsGetInt>(symbol(
                    b"g_settings_get_int",
                )?),
                settings_get_boolean: std::mem::transmute::<*mut c_void, SettingsGetBoolean>(
                    symbol(b"g_settings_get_boolean")?,
                ),
                settings_get_strv: std::mem::transmute::<*mut c_void, SettingsGetStrv>(symbol(
                    b"g_settings_get_strv",
                )?),
                object_unref: std::mem::transmute::<*mut c_void, ObjectUnref>(symbol(
                    b"g_object_unref",
                )?),
                free: std::mem::transmute::<*mut c_void, Free>(symbol(b"g_free")?),
                strfreev: std::mem::transmute::<*mut c_void, StrFreev>(symbol(b"g_strfreev")?),
                _library: library,
            })
        }
    })
    .as_ref()
}

/// A GSettings object, released when dropped.
struct Settings<'a> {
    gio: &'a Gio,
    object: *mut c_void,
}

impl Settings<'_> {
    fn child(&self, name: &str) -> Option<Settings<'_>> {
        let name = CString::new(name).ok()?;
        // SAFETY: `object` is a live GSettings; the child is released by its drop.
        let child = unsafe { (self.gio.settings_get_child)(self.object, name.as_ptr()) };
        (!child.is_null()).then_some(Settings {
            gio: self.gio,
            object: child,
        })
    }

    fn string(&self, key: &str) -> String {
        let Ok(key) = CString::new(key) else {
            return String::new();
        };
        // SAFETY: a key of the schema; the returned string is GLib's to free.
        unsafe {
            let value = (self.gio.settings_get_string)(self.object, key.as_ptr());
            if value.is_null() {
                return String::new();
            }
            let text = CStr::from_ptr(value).to_string_lossy().into_owned();
            (self.gio.free)(value.cast());
            text
        }
    }

    fn int(&self, key: &str) -> i32 {
        let Ok(key) = CString::new(key) else {
            return 0;
        };
        // SAFETY: an integer key of the schema.
        unsafe { (self.gio.settings_get_int)(self.object, key.as_ptr()) }
    }

    fn boolean(&self, key: &str) -> bool {
        let Ok(key) = CString::new(key) else {
            return false;
        };
        // SAFETY: a boolean key of the schema.
        unsafe { (self.gio.settings_get_boolean)(self.object, key.as_ptr()) != 0 }
    }

    fn strings(&self, key: &str) -> Vec<String> {
        let Ok(key) = CString::new(key) else {
            return Vec::new();
        };
        // SAFETY: a string-array key of the schema; a NULL-terminated array GLib frees.
        unsafe {
            let array = (self.gio.settings_get_strv)(self.object, key.as_ptr());
            if array.is_null() {
                return Vec::new();
            }
            let mut values = Vec::new();
            let mut at = array;
            while !(*at).is_null() {
                values.push(CStr::from_ptr(*at).to_string_lossy().into_owned());
                at = at.add(1);
            }
            (self.gio.strfreev)(array);
            values
        }
    }
}

impl Drop for Settings<'_> {
    fn drop(&mut self) {
        // SAFETY: `object` is a GSettings this owns.
        unsafe { (self.gio.object_unref)(self.object) };
    }
}

const SCHEMA: &str = "org.gnome.system.proxy";

/// GNOME's answer for a URL of `scheme`, or `None` when GIO or the schema is not there.
pub fn settings(scheme: &str) -> Option<Gnome> {
    let gio = gio()?;
    let schema = CString::new(SCHEMA).ok()?;
    // SAFETY: the default schema source is GIO's (not to be freed); the schema found is
    // released at once: it only tells whether the schema is installed (g_settings_new
    // aborts the process on a schema that is not).
    unsafe {
        let source = (gio.schema_source_default)();
        if source.is_null() {
            return None;
        }
        let found = (gio.schema_source_lookup)(source, schema.as_ptr(), 1);
        if found.is_null() {
            return None;
        }
        (gio.schema_unref)(found);
    }
    // SAFETY: the schema is installed.
    let object = unsafe { (gio.settings_new)(schema.as_ptr()) };
    if object.is_null() {
        return None;
    }
    let proxy = Settings { gio, object };
    Some(match proxy.string("mode").as_str() {
        "manual" => {
            let host_port = |child: &str| {
                let settings = proxy.child(child)?;
                let host = settings.string("host");
                let port = settings.int("port");
                (!host.is_empty() && port > 0).then_some((host, port))
            };
            // `use-same-proxy`: the HTTP proxy for every scheme.
            let same = proxy.boolean("use-same-proxy");
            // `use-same-proxy` (true by default): the HTTP proxy for every scheme, when
            // one is set; otherwise the scheme's own, then SOCKS.
            let http = host_port("http").map(|(host, port)| format!("http://{host}:{port}"));
            let chosen = match scheme {
                _ if same && http.is_some() => http,
                "https" | "wss" => {
                    host_port("https").map(|(host, port)| format!("http://{host}:{port}"))
                }
                _ => http,
            }
            .or_else(|| host_port("socks").map(|(host, port)| format!("socks5://{host}:{port}")));
            Gnome::Manual {
                proxy: chosen,
                ignore_hosts: proxy.strings("ignore-hosts"),
            }
        }
        "auto" => {
            let url = proxy.string("autoconfig-url");
            Gnome::Auto((!url.is_empty()).then_some(url))
        }
        _ => Gnome::Direct,
    })
}
