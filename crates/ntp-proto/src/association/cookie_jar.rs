//! The NTS client's cookie jar (RFC 8915 §5.7): the session keys from the
//! key exchange and the unused cookies, one spent per request; each reply
//! brings fresh ones, and a request asks for as many as the jar lacks.

use std::collections::VecDeque;

use crate::nts::cookie::SessionKeys;

/// Cookies kept per session (RFC 8915 suggests 8).
pub const JAR_SIZE: usize = 8;

/// A keyed NTS session with one server.
#[derive(Clone, Debug)]
pub struct CookieJar {
    keys: SessionKeys,
    cookies: VecDeque<Vec<u8>>,
}

impl CookieJar {
    /// A jar for a fresh key exchange's keys and cookies (at most
    /// [`JAR_SIZE`] are kept).
    pub fn new(keys: SessionKeys, cookies: Vec<Vec<u8>>) -> CookieJar {
        let mut jar = CookieJar { keys, cookies: VecDeque::with_capacity(JAR_SIZE) };
        jar.add(cookies);
        jar
    }

    /// The session keys.
    pub fn keys(&self) -> &SessionKeys {
        &self.keys
    }

    /// Unused cookies.
    pub fn len(&self) -> usize {
        self.cookies.len()
    }

    /// True when no cookie is left: the key exchange must be run again.
    pub fn is_empty(&self) -> bool {
        self.cookies.is_empty()
    }

    /// The next cookie to spend and how many placeholders ask for enough
    /// new cookies to fill the jar again (at most 7).
    pub fn take(&mut self) -> Option<(Vec<u8>, usize)> {
        let cookie = self.cookies.pop_front()?;
        let placeholders = JAR_SIZE.saturating_sub(self.cookies.len() + 1).min(7);
        Some((cookie, placeholders))
    }

    /// Puts fresh cookies from a reply into the jar, as many as fit.
    pub fn add(&mut self, cookies: Vec<Vec<u8>>) {
        for c in cookies {
            if self.cookies.len() < JAR_SIZE {
                self.cookies.push_back(c);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nts::aead::AeadAlgorithm;

    #[test]
    fn the_jar_asks_for_as_many_placeholders_as_it_lacks() {
        let keys = SessionKeys { aead: AeadAlgorithm::AesSivCmac256, c2s: vec![0; 32], s2c: vec![0; 32] };
        let mut jar = CookieJar::new(keys, (0..8).map(|i| vec![i; 4]).collect());
        assert_eq!(jar.take().unwrap(), (vec![0; 4], 0));
        while jar.len() > 2 {
            jar.take();
        }
        assert_eq!(jar.take().unwrap().1, 6);
        jar.add((0..20).map(|i| vec![i; 4]).collect());
        assert_eq!(jar.len(), JAR_SIZE);
        assert!(!jar.is_empty());
    }
}
