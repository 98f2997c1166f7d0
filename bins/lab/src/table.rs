//! Plain column tables as kubectl and kubeadm print them: each column padded to its widest
//! cell, three spaces between columns, no trailing blanks.

pub fn render<R: AsRef<[String]>>(lines: &[R]) -> String {
    let columns = lines.iter().map(|l| l.as_ref().len()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            lines
                .iter()
                .filter_map(|l| l.as_ref().get(i))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for line in lines {
        let cells: Vec<String> = line
            .as_ref()
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        out.push_str(cells.join("   ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_padded_to_their_widest_cell() {
        let lines = vec![
            vec!["A".to_string(), "LONG HEADER".to_string(), "C".to_string()],
            vec!["wide cell".to_string(), "x".to_string(), String::new()],
        ];
        assert_eq!(
            render(&lines),
            "A           LONG HEADER   C\nwide cell   x\n"
        );
        assert_eq!(render::<Vec<String>>(&[]), "");
    }
}
