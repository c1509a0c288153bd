//! Aligned columns for the listing commands (`status DIR`, `locks`), coloured only on a
//! terminal.
//!
//! Every column but the last is padded to its widest cell (the last is a command line, and
//! is left as long as it is). Colour is an escape sequence around the padded cell, so it never
//! shifts the alignment, and it is used only when standard output is a terminal, `NO_COLOR`
//! is unset or empty (no-color.org) and `TERM` is not `dumb`: a pipe, a file or a script sees
//! plain text. Control characters in a cell (a command line may hold newlines or escape
//! sequences) are shown escaped, so each row is one line and text cannot drive the terminal.

use std::io::{self, IsTerminal, Write};

/// A colour for a cell: what the listing wants to draw the eye to.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Colour {
    Green,
    Yellow,
    Red,
    Cyan,
    Dim,
}

impl Colour {
    fn sgr(self) -> &'static str {
        match self {
            Colour::Green => "\x1b[32m",
            Colour::Yellow => "\x1b[33m",
            Colour::Red => "\x1b[31m",
            Colour::Cyan => "\x1b[36m",
            Colour::Dim => "\x1b[2m",
        }
    }
}

/// One cell: its text and, on a terminal, its colour.
pub struct Cell {
    text: String,
    colour: Option<Colour>,
}

impl Cell {
    pub fn plain(text: impl Into<String>) -> Cell {
        Cell {
            text: printable(&text.into()),
            colour: None,
        }
    }

    pub fn coloured(text: impl Into<String>, colour: Colour) -> Cell {
        Cell {
            text: printable(&text.into()),
            colour: Some(colour),
        }
    }
}

/// `text` with control characters escaped (`\n`, `\t`, `\u{1b}`): a command line of
/// `python3 -c 'several\nlines'` stays on its row, and one that holds escape sequences cannot
/// drive the terminal.
fn printable(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_owned();
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Rows of cells under a header.
pub struct Table {
    header: Vec<&'static str>,
    rows: Vec<Vec<Cell>>,
}

impl Table {
    pub fn new(header: &[&'static str]) -> Table {
        Table {
            header: header.to_vec(),
            rows: Vec::new(),
        }
    }

    pub fn push(&mut self, row: Vec<Cell>) {
        debug_assert_eq!(row.len(), self.header.len());
        self.rows.push(row);
    }

    /// Write the table to standard output (with its header unless `headings` is false).
    pub fn print(&self, headings: bool) -> io::Result<()> {
        let colour = use_colour();
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.text.chars().count());
            }
        }
        let mut out = io::BufWriter::new(io::stdout().lock());
        if headings {
            let cells: Vec<Cell> = self.header.iter().map(|h| Cell::plain(*h)).collect();
            write_row(&mut out, &cells, &widths, false)?;
        }
        for row in &self.rows {
            write_row(&mut out, row, &widths, colour)?;
        }
        out.flush()
    }
}

fn write_row(out: &mut impl Write, row: &[Cell], widths: &[usize], colour: bool) -> io::Result<()> {
    let mut line = String::new();
    for (i, (cell, width)) in row.iter().zip(widths).enumerate() {
        let last = i + 1 == row.len();
        let pad = if last {
            0
        } else {
            width - cell.text.chars().count()
        };
        match cell.colour.filter(|_| colour) {
            Some(c) => line.push_str(&format!("{}{}\x1b[0m", c.sgr(), cell.text)),
            None => line.push_str(&cell.text),
        }
        if !last {
            line.extend(std::iter::repeat_n(' ', pad + 2));
        }
    }
    writeln!(out, "{}", line.trim_end())
}

/// Whether to colour: standard output is a terminal, `NO_COLOR` is unset or empty, and
/// `TERM` is not `dumb`.
fn use_colour() -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
    io::stdout().is_terminal() && !no_color && !dumb
}
