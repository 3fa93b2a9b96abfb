//! Terminal interface, layout: which columns of a list fit the width there is and how a cell
//! too long for its column is cut. Each column says how wide its widest visible cell is, how
//! narrow it may be cut (a column holding ports or status names is never cut), and when it is
//! dropped; cut text ends or begins with "…", so a cut is never silent.

/// How a cell longer than its column is cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cut {
    /// Keep the start: `Samba 4.17.12-Deb…`.
    End,
    /// Keep the end, where ports and pipe names are: `…10.0.0.5[49667]`.
    Start,
    /// `Interface.Operation`: shorten the interface first (`Sr….NetrCharDevQPurgeSelf`), then
    /// the operation in its middle, keeping how it ends (`NetrCha…PurgeSelf`).
    Label,
}

/// One column of a list.
#[derive(Clone, Debug)]
pub struct Column {
    /// The header.
    pub header: &'static str,
    /// The width of its widest visible cell or header.
    pub want: usize,
    /// The least it is cut to before columns are dropped.
    pub soft: usize,
    /// The least it is ever cut to (`want` for a column that is never cut).
    pub min: usize,
    /// 0 for a column always shown; otherwise columns are dropped highest first when the
    /// others do not fit.
    pub drop: u8,
    /// How its cells are cut.
    pub cut: Cut,
}

impl Column {
    /// A column never cut nor dropped, as wide as its widest cell.
    #[must_use]
    pub fn kept(header: &'static str, cells: &[String]) -> Self {
        let want = widest(header, cells);
        Self {
            header,
            want,
            soft: want,
            min: want,
            drop: 0,
            cut: Cut::End,
        }
    }

    /// A column never cut, dropped in order `drop` when the width is short.
    #[must_use]
    pub fn optional(header: &'static str, cells: &[String], drop: u8) -> Self {
        Self {
            drop,
            ..Self::kept(header, cells)
        }
    }

    /// A column cut as `cut` says: down to `soft` before columns are dropped, then to `min`.
    #[must_use]
    pub fn cut(header: &'static str, cells: &[String], soft: usize, min: usize, cut: Cut) -> Self {
        let want = widest(header, cells);
        Self {
            header,
            want,
            soft: soft.min(want),
            min: min.min(want),
            drop: 0,
            cut,
        }
    }
}

fn widest(header: &str, cells: &[String]) -> usize {
    cells
        .iter()
        .map(|c| c.chars().count())
        .chain([header.chars().count()])
        .max()
        .unwrap_or(0)
}

/// The width of each column within `width` (one space between columns), `None` for a column
/// dropped: cut columns shrink to their `soft` width, then optional columns are dropped (the
/// highest `drop` first), then cut columns shrink to their `min`; room left over goes back to
/// cut columns, up to what they want.
#[must_use]
pub fn fit_widths(columns: &[Column], width: usize) -> Vec<Option<usize>> {
    let mut widths: Vec<Option<usize>> = columns.iter().map(|c| Some(c.want)).collect();
    let total = |w: &[Option<usize>]| {
        let shown: Vec<usize> = w.iter().flatten().copied().collect();
        shown.iter().sum::<usize>() + shown.len().saturating_sub(1)
    };
    let shrink_to = |widths: &mut Vec<Option<usize>>, floor: &dyn Fn(&Column) -> usize| {
        for (i, c) in columns.iter().enumerate() {
            let over = total(widths).saturating_sub(width);
            if over == 0 {
                break;
            }
            if let Some(w) = widths[i].as_mut() {
                *w -= over.min(w.saturating_sub(floor(c)));
            }
        }
    };
    shrink_to(&mut widths, &|c| c.soft);
    let mut droppable: Vec<usize> = (0..columns.len())
        .filter(|&i| columns[i].drop > 0)
        .collect();
    droppable.sort_by_key(|&i| std::cmp::Reverse(columns[i].drop));
    for i in droppable {
        if total(&widths) <= width {
            break;
        }
        widths[i] = None;
    }
    shrink_to(&mut widths, &|c| c.min);
    for (i, c) in columns.iter().enumerate() {
        let room = width.saturating_sub(total(&widths));
        if let Some(w) = widths[i].as_mut() {
            *w += room.min(c.want.saturating_sub(*w));
        }
    }
    widths
}

/// `text` cut to `width` characters as `cut` says, "…" where it was cut.
#[must_use]
pub fn fit(text: &str, width: usize, cut: Cut) -> String {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= width {
        return text.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let keep = width - 1;
    let head = |n: usize| chars[..n].iter().collect::<String>();
    let tail = |n: usize| chars[chars.len() - n..].iter().collect::<String>();
    match cut {
        Cut::End => format!("{}…", head(keep)),
        Cut::Start => format!("…{}", tail(keep)),
        Cut::Label => {
            let dot = chars.iter().position(|&c| c == '.');
            match dot {
                // room for at least a letter of the interface, "…." and the whole operation
                Some(d) if chars.len() - d - 1 + 3 <= width => {
                    let op = chars.len() - d - 1;
                    let iface = width - op - 2;
                    format!("{}….{}", head(iface.min(d)), tail(op))
                }
                _ => {
                    let front = keep / 2;
                    format!("{}…{}", head(front), tail(keep - front))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_text_says_so_and_keeps_the_part_that_matters() {
        let label = "Srvsvc.NetrCharDevQPurgeSelf";
        assert_eq!(fit(label, 40, Cut::Label), label);
        assert_eq!(fit(label, 25, Cut::Label), "Sr….NetrCharDevQPurgeSelf");
        assert_eq!(
            fit("Srvsvc.NetrCharDevQPurge", 22, Cut::Label),
            "Srv….NetrCharDevQPurge"
        );
        assert_eq!(fit(label, 12, Cut::Label), "Srvsv…geSelf");
        assert_eq!(
            fit("ncacn_ip_tcp:10.0.0.5[49667]", 16, Cut::Start),
            "…10.0.0.5[49667]"
        );
        assert_eq!(fit("Samba 4.17.12-Debian", 10, Cut::End), "Samba 4.1…");
        assert_eq!(fit("anything", 0, Cut::End), "");
    }

    fn cells(texts: &[&str]) -> Vec<String> {
        texts.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn cut_columns_shrink_then_optional_ones_go_then_the_rest_comes_back() {
        let columns = [
            Column::kept("Frame", &cells(&["123"])),
            Column::optional("Time", &cells(&["10:47:30.323"]), 1),
            Column::kept("Server", &cells(&["127.0.0.1:49152"])),
            Column::cut(
                "Op",
                &cells(&["Samr.SamrQueryInformationDomain2"]),
                20,
                8,
                Cut::Label,
            ),
        ];
        // everything fits: 5 + 12 + 15 + 32 + 3 spaces
        assert_eq!(
            fit_widths(&columns, 67),
            vec![Some(5), Some(12), Some(15), Some(32)]
        );
        // the label gives up to 12 before the time goes
        assert_eq!(
            fit_widths(&columns, 55),
            vec![Some(5), Some(12), Some(15), Some(20)]
        );
        // then the time goes and the label gets its room back
        assert_eq!(
            fit_widths(&columns, 54),
            vec![Some(5), None, Some(15), Some(32)]
        );
        // at last the label is cut below its soft width; kept columns never are
        assert_eq!(
            fit_widths(&columns, 30),
            vec![Some(5), None, Some(15), Some(8)]
        );
    }
}
