//! Masking: anything a check or hook prints is masked before it is kept.

/// Environment variable names that hold secrets by convention.
const SECRET_MARKERS: [&str; 6] = [
    "TOKEN", "SECRET", "PASSWORD", "PASSWD", "API_KEY", "PRIVATE",
];

/// Values shorter than this are not masked: they would blank out ordinary words.
const MIN_SECRET_LEN: usize = 4;

pub const MASK: &str = "***";

/// Replaces known secret values in text.
#[derive(Clone, Default)]
pub struct Masker {
    /// Longest first, so a secret containing another is masked whole.
    secrets: Vec<String>,
}

impl std::fmt::Debug for Masker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Masker({} secrets)", self.secrets.len())
    }
}

impl Masker {
    /// Masks the values of environment variables whose names say they are secret.
    pub fn from_env(vars: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut masker = Self::default();
        for (name, value) in vars {
            let upper = name.to_ascii_uppercase();
            if SECRET_MARKERS.iter().any(|marker| upper.contains(marker)) {
                masker.add(value);
            }
        }
        masker
    }

    pub fn add(&mut self, secret: impl Into<String>) {
        let secret = secret.into();
        if secret.len() >= MIN_SECRET_LEN && !self.secrets.contains(&secret) {
            self.secrets.push(secret);
            self.secrets
                .sort_by_key(|secret| std::cmp::Reverse(secret.len()));
        }
    }

    pub fn mask(&self, text: &str) -> String {
        self.secrets.iter().fold(text.to_owned(), |masked, secret| {
            masked.replace(secret.as_str(), MASK)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_secret_looking_variables_and_added_values() {
        let mut masker = Masker::from_env([
            ("GITHUB_TOKEN".to_owned(), "ghs_abcdef".to_owned()),
            ("db_password".to_owned(), "hunter22".to_owned()),
            ("HOME".to_owned(), "/root".to_owned()),
        ]);
        masker.add("s3cr3t-header");
        let masked = masker.mask("token ghs_abcdef, pw hunter22, header s3cr3t-header, home /root");
        assert_eq!(masked, "token ***, pw ***, header ***, home /root");
    }

    #[test]
    fn short_values_are_left_alone() {
        let masker = Masker::from_env([("API_KEY".to_owned(), "x".to_owned())]);
        assert_eq!(masker.mask("x marks the spot"), "x marks the spot");
    }
}
