//! Where the database is (`Location`: a SQLite file or a PostgreSQL URL) and the one handle
//! the rest of the back office uses (`Store`), with a backend of each kind behind it.
//!
//! The queries are written once, with SQLite's numbered parameters (`?1`); PostgreSQL gets
//! them as `$1`. Values go in as anything both drivers take (`Param`) and come out as
//! [`Value`]s, so that no caller sees which backend answers. Only the schema (the
//! migrations) and the rare query whose SQL differs are written per backend
//! ([`Store::dialect`]).

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};

/// Where the back office's database is: `--db` and `REMOTE_SERVICE_BACKOFFICE_DB`.
///
/// Shown (`Display`, `Debug`) without the password a PostgreSQL URL may hold.
#[derive(Clone)]
pub enum Location {
    /// A SQLite file (a plain path, `sqlite:PATH` or `sqlite://PATH`), made when missing.
    Sqlite(PathBuf),
    /// A PostgreSQL database (`postgres://…` or `postgresql://…`).
    Postgres {
        /// What the driver connects with (it holds the password, if any).
        config: Box<postgres::Config>,
        /// The URL without its password, for logs and errors.
        shown: String,
    },
}

impl FromStr for Location {
    type Err = String;

    fn from_str(text: &str) -> Result<Location, String> {
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            let shown = without_password(text);
            let mut config = postgres::Config::from_str(text)
                .map_err(|error| format!("{shown} is not a PostgreSQL URL: {error}"))?;
            if config.get_connect_timeout().is_none() {
                // A request that has to reconnect must not hang on an unreachable server.
                config.connect_timeout(Duration::from_secs(10));
            }
            if config.get_application_name().is_none() {
                config.application_name("remote-service-backoffice");
            }
            return Ok(Location::Postgres {
                config: Box::new(config),
                shown,
            });
        }
        let path = text
            .strip_prefix("sqlite://")
            .or_else(|| text.strip_prefix("sqlite:"))
            .unwrap_or(text);
        if path.is_empty() {
            return Err("no database given: a SQLite file (PATH or sqlite:PATH) or a PostgreSQL URL (postgres://USER@HOST/DATABASE)".into());
        }
        Ok(Location::Sqlite(PathBuf::from(path)))
    }
}

impl fmt::Display for Location {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Sqlite(path) => write!(formatter, "{}", path.display()),
            Location::Postgres { shown, .. } => formatter.write_str(shown),
        }
    }
}

impl fmt::Debug for Location {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, formatter)
    }
}

/// A PostgreSQL URL as it may be shown: the password in the user part and a `password`
/// parameter replaced by `***`.
pub fn without_password(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((user_info, hosts)) => match user_info.split_once(':') {
            Some((user, _password)) => format!("{user}:***@{hosts}"),
            None => format!("{user_info}@{hosts}"),
        },
        None => authority.to_string(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _)) if key.eq_ignore_ascii_case("password") => {
                        format!("{key}=***")
                    }
                    _ => pair.to_string(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_string(),
    };
    format!("{scheme}://{authority}{tail}")
}

/// A value a query takes: anything both drivers can bind (`&str`, `String`, `i64`, `bool`,
/// and `Option`s of them).
pub trait Param {
    /// As SQLite binds it.
    fn sqlite(&self) -> &dyn rusqlite::ToSql;
    /// As PostgreSQL binds it.
    fn postgres(&self) -> &(dyn postgres::types::ToSql + Sync);
}

impl<T: rusqlite::ToSql + postgres::types::ToSql + Sync> Param for T {
    fn sqlite(&self) -> &dyn rusqlite::ToSql {
        self
    }

    fn postgres(&self) -> &(dyn postgres::types::ToSql + Sync) {
        self
    }
}

/// A value a query gave. Booleans come as integers (0, 1), as SQLite keeps them.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// An integer (or a boolean).
    Integer(i64),
    /// Text.
    Text(String),
}

/// A row a query gave; its columns by index.
#[derive(Debug, Clone)]
pub struct Row(Vec<Value>);

impl Row {
    fn value(&self, index: usize) -> Result<&Value> {
        self.0
            .get(index)
            .ok_or_else(|| anyhow!("the query gave no column {index}"))
    }

    /// The text in column `index`, or none for NULL.
    pub fn optional_text(&self, index: usize) -> Result<Option<String>> {
        match self.value(index)? {
            Value::Null => Ok(None),
            Value::Text(text) => Ok(Some(text.clone())),
            other => bail!("column {index} holds {other:?}, not text"),
        }
    }

    /// The text in column `index`.
    pub fn text(&self, index: usize) -> Result<String> {
        self.optional_text(index)?
            .ok_or_else(|| anyhow!("column {index} is NULL, not text"))
    }

    /// The integer in column `index`, or none for NULL.
    pub fn optional_integer(&self, index: usize) -> Result<Option<i64>> {
        match self.value(index)? {
            Value::Null => Ok(None),
            Value::Integer(value) => Ok(Some(*value)),
            other => bail!("column {index} holds {other:?}, not an integer"),
        }
    }

    /// The integer in column `index`.
    pub fn integer(&self, index: usize) -> Result<i64> {
        self.optional_integer(index)?
            .ok_or_else(|| anyhow!("column {index} is NULL, not an integer"))
    }

    /// The boolean in column `index`.
    pub fn boolean(&self, index: usize) -> Result<bool> {
        Ok(self.integer(index)? != 0)
    }
}

/// The database, whichever backend holds it. Every statement outside a
/// [`Store::transaction`] commits on its own before the call returns.
pub struct Store {
    backend: Backend,
}

enum Backend {
    Sqlite(rusqlite::Connection),
    // Boxed: its configuration and statement cache are much larger than a SQLite handle.
    Postgres(Box<Postgres>),
}

/// A PostgreSQL connection, made again when it broke (the server restarted, the network
/// went away): the statement that found it broken fails, the next one reconnects — never
/// inside a transaction, whose first statements went with the old connection.
struct Postgres {
    config: postgres::Config,
    shown: String,
    client: Option<postgres::Client>,
    in_transaction: bool,
    /// Statements prepared on `client`, by their SQL.
    statements: HashMap<&'static str, postgres::Statement>,
    /// The channel this connection listens on (`LISTEN`), again after each reconnection.
    listening: Option<&'static str>,
    /// Whether it connected again since [`Store::take_reconnected`] was last asked:
    /// notifications sent meanwhile were missed.
    reconnected: bool,
}

/// Runs blocking database work. The PostgreSQL driver blocks on a runtime of its own,
/// which tokio forbids on the threads that run async tasks: there it runs through
/// `block_in_place`, which hands the thread's other tasks to another worker meanwhile.
fn blocking<T>(work: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // The driver's runtime cannot be dropped on an async thread either.
        if let Some(client) = self.client.take() {
            blocking(move || drop(client));
        }
    }
}

impl Postgres {
    fn connect(config: &postgres::Config, shown: &str) -> Result<postgres::Client> {
        blocking(|| config.connect(postgres::NoTls))
            .with_context(|| format!("cannot connect to the database {shown}"))
    }

    /// The connection, made again when it broke.
    fn client(&mut self) -> Result<&mut postgres::Client> {
        if self.client.as_ref().is_none_or(postgres::Client::is_closed) {
            if let Some(broken) = self.client.take() {
                blocking(move || drop(broken));
            }
            if self.in_transaction {
                bail!(
                    "the connection to {} broke during a transaction",
                    self.shown
                );
            }
            self.statements.clear();
            let mut client = Postgres::connect(&self.config, &self.shown)?;
            if let Some(channel) = self.listening {
                blocking(|| client.batch_execute(&format!("LISTEN {channel}")))
                    .with_context(|| format!("cannot listen on {}", self.shown))?;
            }
            self.client = Some(client);
            self.reconnected = true;
            tracing::info!("connected to {} again", self.shown);
        }
        Ok(self.client.as_mut().expect("connected above"))
    }

    /// `result` of a statement; a connection it found broken is dropped, so that the next
    /// statement connects again.
    fn checked<T>(&mut self, result: Result<T, postgres::Error>) -> Result<T> {
        match result {
            Ok(value) => Ok(value),
            Err(error) => {
                if error.is_closed()
                    || self
                        .client
                        .as_ref()
                        .is_some_and(postgres::Client::is_closed)
                {
                    tracing::warn!("the connection to {} broke: {error}", self.shown);
                    if let Some(broken) = self.client.take() {
                        blocking(move || drop(broken));
                    }
                }
                Err(error.into())
            }
        }
    }

    fn statement(&mut self, sql: &'static str) -> Result<postgres::Statement> {
        // Connected first: a new connection starts without the statements of the old one.
        self.client()?;
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let text = postgres_parameters(sql);
        let client = self.client()?;
        let prepared = blocking(|| client.prepare(&text));
        let statement = self.checked(prepared)?;
        self.statements.insert(sql, statement.clone());
        Ok(statement)
    }

    fn execute(&mut self, sql: &'static str, params: &[&dyn Param]) -> Result<u64> {
        let statement = self.statement(sql)?;
        let params: Vec<_> = params.iter().map(|param| param.postgres()).collect();
        let client = self.client()?;
        let executed = blocking(|| client.execute(&statement, &params));
        self.checked(executed)
    }

    fn query(&mut self, sql: &'static str, params: &[&dyn Param]) -> Result<Vec<Row>> {
        let statement = self.statement(sql)?;
        let params: Vec<_> = params.iter().map(|param| param.postgres()).collect();
        let client = self.client()?;
        let queried = blocking(|| client.query(&statement, &params));
        self.checked(queried)?.iter().map(postgres_row).collect()
    }

    fn batch(&mut self, sql: &str) -> Result<()> {
        let client = self.client()?;
        let executed = blocking(|| client.batch_execute(sql));
        self.checked(executed)
    }
}

/// `?1` → `$1`: the queries are written with SQLite's numbered parameters, which no string
/// literal of ours contains.
fn postgres_parameters(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut characters = sql.chars().peekable();
    while let Some(character) = characters.next() {
        if character == '?' && characters.peek().is_some_and(char::is_ascii_digit) {
            out.push('$');
        } else {
            out.push(character);
        }
    }
    out
}

fn postgres_row(row: &postgres::Row) -> Result<Row> {
    use postgres::types::Type;
    let mut values = Vec::with_capacity(row.len());
    for (index, column) in row.columns().iter().enumerate() {
        let value = match *column.type_() {
            Type::TEXT | Type::VARCHAR | Type::NAME | Type::BPCHAR => row
                .try_get::<_, Option<String>>(index)?
                .map_or(Value::Null, Value::Text),
            Type::INT8 => row
                .try_get::<_, Option<i64>>(index)?
                .map_or(Value::Null, Value::Integer),
            Type::INT4 => row
                .try_get::<_, Option<i32>>(index)?
                .map_or(Value::Null, |value| Value::Integer(value.into())),
            Type::INT2 => row
                .try_get::<_, Option<i16>>(index)?
                .map_or(Value::Null, |value| Value::Integer(value.into())),
            Type::BOOL => row
                .try_get::<_, Option<bool>>(index)?
                .map_or(Value::Null, |value| Value::Integer(value.into())),
            ref other => bail!("column {} has the unexpected type {other}", column.name()),
        };
        values.push(value);
    }
    Ok(Row(values))
}

fn sqlite_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    use rusqlite::types::ValueRef;
    let n_columns = row.as_ref().column_count();
    let mut values = Vec::with_capacity(n_columns);
    for index in 0..n_columns {
        values.push(match row.get_ref(index)? {
            ValueRef::Null => Value::Null,
            ValueRef::Integer(value) => Value::Integer(value),
            ValueRef::Text(text) => Value::Text(String::from_utf8_lossy(text).into_owned()),
            ValueRef::Real(value) => Value::Text(value.to_string()),
            ValueRef::Blob(_) => {
                return Err(rusqlite::Error::InvalidColumnType(
                    index,
                    "blob".into(),
                    rusqlite::types::Type::Blob,
                ))
            }
        });
    }
    Ok(Row(values))
}

/// Whether `error` says the database cannot be reached now (the connection broke or could
/// not be made), rather than that a statement failed: the node answers `503` then.
pub fn is_unreachable(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<postgres::Error>()
            .is_some_and(|error| {
                // SQLSTATE classes 08 (connection exception) and 57 (operator
                // intervention: the server shuts down or is starting).
                error.is_closed()
                    || error.code().is_some_and(|state| {
                        state.code().starts_with("08") || state.code().starts_with("57")
                    })
                    || error.as_db_error().is_none()
                        && std::error::Error::source(error)
                            .is_some_and(|source| source.is::<std::io::Error>())
                    || error.to_string().starts_with("error connecting")
                    || error.to_string().starts_with("timeout waiting")
            })
    }) || error
        .chain()
        .any(|cause| cause.to_string().starts_with("the connection to "))
}

/// Which kind of database a [`Store`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

impl Store {
    /// Opens the database at `location` (a SQLite file is made when missing) and brings
    /// its schema up to date; refuses a schema newer than this back office knows.
    pub fn open(location: &Location) -> Result<Store> {
        let mut store = match location {
            Location::Sqlite(path) => Store {
                backend: Backend::Sqlite(open_sqlite(path)?),
            },
            Location::Postgres { config, shown } => Store {
                backend: Backend::Postgres(Box::new(Postgres {
                    client: Some(Postgres::connect(config, shown)?),
                    config: (**config).clone(),
                    shown: shown.clone(),
                    in_transaction: false,
                    statements: HashMap::new(),
                    listening: None,
                    reconnected: false,
                })),
            },
        };
        super::migrations::migrate(&mut store)
            .with_context(|| format!("the database {location}"))?;
        Ok(store)
    }

    /// Opens an existing SQLite file read-only, as it is (nothing is made, migrated or
    /// written: the source of `migrate`); refuses a schema newer than this back office
    /// knows. The schema's version is returned with it.
    pub fn open_read_only(path: &Path) -> Result<(Store, i64)> {
        use rusqlite::OpenFlags;
        let connection = rusqlite::Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .with_context(|| format!("cannot open the database {} read-only", path.display()))?;
        connection
            .busy_timeout(Duration::from_secs(5))
            .context("cannot set the database's busy timeout")?;
        let mut store = Store {
            backend: Backend::Sqlite(connection),
        };
        let version = super::migrations::check_read_only(&mut store)
            .with_context(|| format!("the database {}", path.display()))?;
        Ok((store, version))
    }

    /// Listens on the PostgreSQL `channel` (again after each reconnection), for
    /// [`Store::notifications`]; nothing on SQLite.
    pub fn listen(&mut self, channel: &'static str) -> Result<()> {
        if let Backend::Postgres(postgres) = &mut self.backend {
            postgres.listening = Some(channel);
            postgres.batch(&format!("LISTEN {channel}"))?;
        }
        Ok(())
    }

    /// The payloads of the notifications on the channel this store listens on: waits up
    /// to `timeout` for the first, then takes those that came with it. An error when the
    /// connection broke (the next call connects again: see [`Store::take_reconnected`]).
    pub fn notifications(&mut self, timeout: Duration) -> Result<Vec<String>> {
        use postgres::fallible_iterator::FallibleIterator;
        let Backend::Postgres(postgres) = &mut self.backend else {
            std::thread::sleep(timeout);
            return Ok(Vec::new());
        };
        let client = postgres.client()?;
        let waited = blocking(|| {
            let mut payloads = Vec::new();
            let mut notifications = client.notifications();
            let first = notifications.timeout_iter(timeout).next()?;
            if let Some(first) = first {
                payloads.push(first.payload().to_string());
                let mut pending = notifications.iter();
                while let Some(next) = pending.next()? {
                    payloads.push(next.payload().to_string());
                }
            }
            Ok::<_, postgres::Error>(payloads)
        });
        let payloads = postgres.checked(waited)?;
        if postgres
            .client
            .as_ref()
            .is_some_and(postgres::Client::is_closed)
        {
            postgres.client = None;
            bail!("the connection to {} broke", postgres.shown);
        }
        Ok(payloads)
    }

    /// Whether the connection was made again since the last call (notifications sent
    /// meanwhile were missed); false on SQLite.
    pub fn take_reconnected(&mut self) -> bool {
        match &mut self.backend {
            Backend::Postgres(postgres) => std::mem::take(&mut postgres.reconnected),
            Backend::Sqlite(_) => false,
        }
    }

    /// Which kind of database this is.
    pub fn kind(&self) -> Kind {
        match self.backend {
            Backend::Sqlite(_) => Kind::Sqlite,
            Backend::Postgres(_) => Kind::Postgres,
        }
    }

    /// The SQL of this backend, for the few statements that differ.
    pub fn dialect(&self, sqlite: &'static str, postgres: &'static str) -> &'static str {
        match self.kind() {
            Kind::Sqlite => sqlite,
            Kind::Postgres => postgres,
        }
    }

    /// Runs a statement; the number of rows it changed.
    pub fn execute(&mut self, sql: &'static str, params: &[&dyn Param]) -> Result<u64> {
        match &mut self.backend {
            Backend::Sqlite(connection) => {
                let params: Vec<_> = params.iter().map(|param| param.sqlite()).collect();
                Ok(connection.prepare_cached(sql)?.execute(params.as_slice())? as u64)
            }
            Backend::Postgres(postgres) => postgres.execute(sql, params),
        }
    }

    /// Runs a query; its rows.
    pub fn query(&mut self, sql: &'static str, params: &[&dyn Param]) -> Result<Vec<Row>> {
        match &mut self.backend {
            Backend::Sqlite(connection) => {
                let params: Vec<_> = params.iter().map(|param| param.sqlite()).collect();
                let mut statement = connection.prepare_cached(sql)?;
                let rows = statement.query_map(params.as_slice(), sqlite_row)?;
                Ok(rows.collect::<Result<_, _>>()?)
            }
            Backend::Postgres(postgres) => postgres.query(sql, params),
        }
    }

    /// The first row of a query, if any.
    pub fn query_first(&mut self, sql: &'static str, params: &[&dyn Param]) -> Result<Option<Row>> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// Runs statements without parameters (the schema).
    pub fn batch(&mut self, sql: &str) -> Result<()> {
        match &mut self.backend {
            Backend::Sqlite(connection) => Ok(connection.execute_batch(sql)?),
            Backend::Postgres(postgres) => postgres.batch(sql),
        }
    }

    /// Runs `work` in one transaction: committed (on disk) when it returns `Ok`, rolled back
    /// when it fails. SQLite takes its write lock at the start (`BEGIN IMMEDIATE`), so that
    /// the transaction never has to give up half way for a writer that came between.
    pub fn transaction<T>(&mut self, work: impl FnOnce(&mut Store) -> Result<T>) -> Result<T> {
        self.batch(self.dialect("BEGIN IMMEDIATE", "BEGIN"))
            .context("cannot start a transaction")?;
        self.set_in_transaction(true);
        match work(self) {
            Ok(value) => {
                // Still in the transaction: a COMMIT never goes to a new connection.
                let committed = self.batch("COMMIT");
                self.set_in_transaction(false);
                committed.context("cannot commit the transaction")?;
                Ok(value)
            }
            Err(error) => {
                // Whatever the connection is now, nothing of the transaction stays.
                self.set_in_transaction(false);
                // A connection that broke took the transaction with it.
                if !self.connection_lost() {
                    if let Err(rollback) = self.batch("ROLLBACK") {
                        tracing::warn!("cannot roll the transaction back: {rollback:#}");
                    }
                }
                Err(error)
            }
        }
    }

    /// Whether the PostgreSQL connection broke (and is not made again yet).
    fn connection_lost(&self) -> bool {
        matches!(&self.backend, Backend::Postgres(postgres) if postgres.client.is_none())
    }

    fn set_in_transaction(&mut self, in_transaction: bool) {
        if let Backend::Postgres(postgres) = &mut self.backend {
            postgres.in_transaction = in_transaction;
        }
    }

    /// Whether another connection may have written since the last call: SQLite says so
    /// (`PRAGMA data_version`); PostgreSQL has no such cheap question, so always.
    pub fn others_may_have_written(&mut self, last_version: &mut i64) -> bool {
        match &mut self.backend {
            Backend::Sqlite(connection) => {
                let version = connection
                    .query_row("PRAGMA data_version", [], |row| row.get(0))
                    .unwrap_or(0);
                let changed = version != *last_version;
                *last_version = version;
                changed
            }
            Backend::Postgres(_) => true,
        }
    }
}

/// Opens (and creates) a SQLite file, in WAL mode so that the admin commands and the server
/// work on it at the same time, with every commit on disk before it returns
/// (`synchronous = FULL`: the protocol acknowledges writes only once they are committed).
fn open_sqlite(path: &Path) -> Result<rusqlite::Connection> {
    make_private(path)?;
    let connection = rusqlite::Connection::open(path)
        .with_context(|| format!("cannot open the database {}", path.display()))?;
    connection
        .busy_timeout(Duration::from_secs(5))
        .context("cannot set the database's busy timeout")?;
    connection
        .pragma_update(None, "journal_mode", "WAL")
        .context("cannot switch the database to WAL")?;
    connection
        .pragma_update(None, "synchronous", "FULL")
        .context("cannot set the database's synchronous mode")?;
    connection
        .pragma_update(None, "foreign_keys", "ON")
        .context("cannot enable foreign keys")?;
    Ok(connection)
}

/// The database holds Argon2 hashes, which are not for everyone to read: a new file is made
/// 0600 before SQLite opens it, and SQLite gives its `-wal` and `-shm` files the database's
/// permissions when it creates them; files an earlier version left readable are made
/// private too (by name: opening and closing the database file beside SQLite would drop
/// SQLite's POSIX locks on it).
fn make_private(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => {}
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(error) => {
                return Err(error)
                    .with_context(|| format!("cannot create the database {}", path.display()))
            }
        }
        for suffix in ["", "-wal", "-shm"] {
            let file = PathBuf::from(format!("{}{suffix}", path.display()));
            match std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)) {
                Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                    return Err(error)
                        .with_context(|| format!("cannot make {} private", file.display()))
                }
                _ => {}
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_location(text: &str, expect: &str) {
        let shown = match text.parse::<Location>() {
            Ok(Location::Sqlite(path)) => format!("sqlite {}", path.display()),
            Ok(location @ Location::Postgres { .. }) => format!("postgres {location}"),
            Err(error) => format!("error {error}"),
        };
        assert_eq!(shown, expect, "{text}");
    }

    #[test]
    fn locations_and_how_they_are_shown() {
        check_location("office.sqlite", "sqlite office.sqlite");
        check_location("/var/lib/office.sqlite", "sqlite /var/lib/office.sqlite");
        check_location("sqlite:office.sqlite", "sqlite office.sqlite");
        check_location("sqlite:///var/lib/o.sqlite", "sqlite /var/lib/o.sqlite");
        check_location(
            "postgres://office@db.example:5433/office",
            "postgres postgres://office@db.example:5433/office",
        );
        check_location(
            "postgresql://office:s3cret@127.0.0.1/office?sslmode=disable",
            "postgres postgresql://office:***@127.0.0.1/office?sslmode=disable",
        );
        check_location(
            "postgres:///office?host=/run/postgresql",
            "postgres postgres:///office?host=/run/postgresql",
        );
        check_location(
            "postgres://office@localhost/office?password=s3cret&connect_timeout=3",
            "postgres postgres://office@localhost/office?password=***&connect_timeout=3",
        );
        check_location(
            "postgres://office:s3cret@localhost/office?port=notaport",
            "error postgres://office:***@localhost/office?port=notaport is not a PostgreSQL URL: invalid connection string",
        );
        assert!(""
            .parse::<Location>()
            .unwrap_err()
            .starts_with("no database given"));
        let debug = format!(
            "{:?}",
            "postgres://u:s3cret@h/d".parse::<Location>().unwrap()
        );
        assert!(!debug.contains("s3cret"), "{debug}");
    }

    #[test]
    fn parameters_are_numbered_for_postgres() {
        assert_eq!(
            postgres_parameters("UPDATE t SET a = COALESCE(?2, a) WHERE b = ?1 AND c = '?'"),
            "UPDATE t SET a = COALESCE($2, a) WHERE b = $1 AND c = '?'"
        );
    }
}
