//! Folded stacks (`comm;root;...;leaf count`) as maps, and how two foldings compare.

use std::collections::{BTreeMap, HashMap};

use object::{Object, ObjectSymbol, SymbolKind};

pub fn parse_folded(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let (stack, n) = l.rsplit_once(' ')?;
            Some((stack.to_string(), n.parse::<u64>().ok()?))
        })
        .fold(BTreeMap::new(), |mut m, (s, n)| {
            *m.entry(s).or_insert(0) += n;
            m
        })
}

/// Weight the two foldings put on the same stacks, as a share: sum of min(share a, share b).
pub fn agreement(a: &BTreeMap<String, u64>, b: &BTreeMap<String, u64>) -> f64 {
    let (ta, tb) = (
        a.values().sum::<u64>() as f64,
        b.values().sum::<u64>() as f64,
    );
    a.iter()
        .map(|(s, &n)| (n as f64 / ta).min(*b.get(s).unwrap_or(&0) as f64 / tb))
        .sum()
}

/// The stacks with the most more weight (as a share) in `a` than in `b`.
pub fn largest_differences(
    a: &BTreeMap<String, u64>,
    b: &BTreeMap<String, u64>,
) -> Vec<(f64, String)> {
    let (ta, tb) = (
        a.values().sum::<u64>() as f64,
        b.values().sum::<u64>() as f64,
    );
    let mut d: Vec<(f64, String)> = a
        .iter()
        .map(|(s, &n)| {
            let more = n as f64 / ta - *b.get(s).unwrap_or(&0) as f64 / tb;
            (more, s.clone())
        })
        .collect();
    d.sort_by(|x, y| y.0.total_cmp(&x.0));
    d.truncate(8);
    d
}

/// Every name this machine's libc gives a function, mapped to one of them: glibc names most
/// functions several times (`read`, `__read`, `__GI___libc_read`, ...), and perf spells a
/// frame from the symbol table on frame-pointer recordings but from DWARF on DWARF ones, so
/// the same function comes out under different names.
pub fn libc_aliases() -> HashMap<String, String> {
    let libc = std::fs::read("/usr/lib/x86_64-linux-gnu/libc.so.6").unwrap_or_default();
    let Ok(obj) = object::File::parse(&*libc) else {
        return HashMap::new();
    };
    // Stripped: the full symbol table is in the debug file (libc6-dbg), if installed.
    let debug = obj.build_id().ok().flatten().and_then(|id| {
        let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
        std::fs::read(format!(
            "/usr/lib/debug/.build-id/{}/{}.debug",
            &hex[..2],
            &hex[2..]
        ))
        .ok()
    });
    let debug_obj = debug.as_deref().and_then(|d| object::File::parse(d).ok());
    let mut by_address: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    for sym in obj
        .dynamic_symbols()
        .chain(debug_obj.iter().flat_map(|d| d.symbols()))
    {
        if sym.kind() == SymbolKind::Text {
            if let Ok(name) = sym.name() {
                by_address
                    .entry(sym.address())
                    .or_default()
                    .push(name.to_string());
            }
        }
    }
    let mut aliases = HashMap::new();
    for names in by_address.values() {
        let first = names.iter().min().unwrap();
        for n in names {
            aliases.insert(n.clone(), first.clone());
        }
    }
    aliases
}

/// `folded` with every libc function under one name (see [`libc_aliases`]).
pub fn without_libc_aliases(
    folded: &BTreeMap<String, u64>,
    aliases: &HashMap<String, String>,
) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for (stack, n) in folded {
        let renamed: Vec<&str> = stack
            .split(';')
            .map(|f| aliases.get(f).map_or(f, String::as_str))
            .collect();
        *out.entry(renamed.join(";")).or_insert(0) += n;
    }
    out
}

/// Our stacks with frames named by function boundaries (`dd+0x5ae0`: no symbol, no debug
/// file) named as perf and inferno name them (`[dd]`), for comparisons with `perf script`.
#[allow(dead_code)]
pub fn boundaries_as_perf_names(folded: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    let frame = |f: &str| -> String {
        match f.rsplit_once("+0x") {
            Some((file, hex))
                if !file.is_empty()
                    && !hex.is_empty()
                    && hex.bytes().all(|b| b.is_ascii_hexdigit()) =>
            {
                format!("[{file}]")
            }
            _ => f.to_string(),
        }
    };
    let mut out = BTreeMap::new();
    for (stack, n) in folded {
        let renamed: Vec<String> = stack.split(';').map(frame).collect();
        *out.entry(renamed.join(";")).or_insert(0) += n;
    }
    out
}
