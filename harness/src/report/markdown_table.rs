//! Markdown tables, their cells escaped so that a `|` in a name cannot end a cell.

/// A Markdown table row; `|` in a cell is escaped so that it cannot end the cell.
pub fn row(cells: &[String]) -> String {
    let cells: Vec<String> = cells.iter().map(|c| c.replace('|', "\\|")).collect();
    format!("| {} |\n", cells.join(" | "))
}

/// A Markdown table.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = format!(
        "| {} |\n|{}\n",
        headers.join(" | "),
        "---|".repeat(headers.len())
    );
    out.extend(rows.iter().map(|r| row(r)));
    out
}
