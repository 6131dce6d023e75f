//! Debug files from debuginfod servers, for the stripped binaries a recording ran.
//!
//! Where `DEBUGINFOD_URLS` names servers (space-separated, as elfutils reads it) and
//! `--offline` is not given, the debug file of every stripped module that has frames is asked
//! for by build id, server by server, into the cache elfutils uses
//! (`$DEBUGINFOD_CACHE_PATH`, else `$XDG_CACHE_HOME/debuginfod_client`, else
//! `~/.cache/debuginfod_client`, as `<build id>/debuginfo`), so perf, gdb and later analyses
//! share what was fetched. Every fetch says on stderr what it waits for; a request is bounded
//! in time; a server that fails is named once, with why, and not asked again in this analysis.

use std::path::PathBuf;
use std::time::Duration;

use debuginfod::{BuildId as DebuginfodId, CachingClient, Client, HttpClient, HttpClientError};

use crate::binary::{debuginfod_cache_dir, BuildId};

/// Longest wait for one server's answer about one file, download included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The HTTP client the debuginfod crate asks for: ureq, bounded in time.
#[derive(Debug)]
struct Http(ureq::Agent);

impl HttpClient for Http {
    fn get(&self, url: &str) -> Result<Box<dyn debuginfod::Readable>, HttpClientError> {
        match self.0.get(url).call() {
            Ok(response) => Ok(Box::new(Reader(response.into_body().into_reader()))),
            Err(ureq::Error::StatusCode(code)) => Err(HttpClientError::StatusCode(
                ureq::http::StatusCode::from_u16(code)
                    .unwrap_or(ureq::http::StatusCode::BAD_GATEWAY),
            )),
            Err(e) => Err(HttpClientError::Other(Box::new(e))),
        }
    }
}

/// A response body as the crate reads it.
struct Reader(ureq::BodyReader<'static>);

impl std::io::Read for Reader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("debuginfod response body")
    }
}

/// The TCP ports of the servers an analysis will ask (`DEBUGINFOD_URLS`: `http` 80, `https`
/// 443, or the port a URL names), for the sandbox's network rule. None when none will be
/// asked (none configured, or `offline`).
pub fn server_ports(offline: bool) -> Option<Vec<u16>> {
    if offline {
        return None;
    }
    let urls = std::env::var("DEBUGINFOD_URLS").ok()?;
    let mut ports: Vec<u16> = urls.split_whitespace().filter_map(port_of).collect();
    ports.sort_unstable();
    ports.dedup();
    (!ports.is_empty()).then_some(ports)
}

/// `scheme://host[:port]/...` -> the port.
fn port_of(url: &str) -> Option<u16> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split('/').next()?;
    // `[::1]:8002` or `host:8002`; a bare IPv6 literal has no port after its bracket.
    let after_host = authority.rsplit_once(']').map_or(authority, |(_, p)| p);
    match after_host.rsplit_once(':') {
        Some((_, port)) if !port.is_empty() => port.parse().ok(),
        _ => match scheme {
            "http" => Some(80),
            "https" => Some(443),
            _ => None,
        },
    }
}

/// One server and its client.
struct Server {
    url: String,
    client: CachingClient,
    /// Why it failed, once it has: not asked again.
    failed: Option<String>,
}

/// The servers of `DEBUGINFOD_URLS`, asked in order.
pub struct Fetcher {
    servers: Vec<Server>,
}

impl Fetcher {
    /// None when no server is configured or `offline` is set.
    pub fn from_env(offline: bool) -> Option<Fetcher> {
        if offline {
            return None;
        }
        let urls = std::env::var("DEBUGINFOD_URLS").ok()?;
        let cache = debuginfod_cache_dir()?;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(REQUEST_TIMEOUT))
            .build()
            .into();
        let mut servers = Vec::new();
        for url in urls.split_whitespace() {
            let client = Client::builder()
                .http_client(Http(agent.clone()))
                .build([url])
                .ok()
                .flatten()
                .and_then(|c| CachingClient::new(c, &cache).ok());
            match client {
                Some(client) => servers.push(Server {
                    url: url.to_string(),
                    client,
                    failed: None,
                }),
                None => {
                    eprintln!("debuginfod: ignoring `{url}` in DEBUGINFOD_URLS: not a usable URL")
                }
            }
        }
        (!servers.is_empty()).then_some(Fetcher { servers })
    }

    /// The debug file of `module` (a file name, for the messages) with build id `id`, from
    /// the first server that has it. Says what it waits for and what failed.
    pub fn fetch(&mut self, module: &str, id: &BuildId) -> Option<PathBuf> {
        let wanted = DebuginfodId::raw(id.as_bytes());
        for server in self.servers.iter_mut().filter(|s| s.failed.is_none()) {
            eprintln!(
                "debuginfod: asking {} for the debug file of {module} (build id {id}, up to {} s)",
                server.url,
                REQUEST_TIMEOUT.as_secs()
            );
            match server.client.fetch_debug_info(&wanted) {
                Ok(Some(path)) => return Some(path),
                Ok(None) => {}
                Err(e) => {
                    let why = format!("{e:#}");
                    eprintln!(
                        "debuginfod: {} failed ({why}); not asked again in this analysis",
                        server.url
                    );
                    server.failed = Some(why);
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::port_of;

    #[test]
    fn ports_of_server_urls() {
        assert_eq!(port_of("https://debuginfod.debian.net"), Some(443));
        assert_eq!(port_of("http://127.0.0.1:8002/"), Some(8002));
        assert_eq!(port_of("http://[::1]:8003"), Some(8003));
        assert_eq!(port_of("http://[::1]/x"), Some(80));
        assert_eq!(port_of("ftp://host"), None);
        assert_eq!(port_of("not a url"), None);
    }
}
