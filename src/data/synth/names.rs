//! LFW-looking identity names (`First_Last`) whose first letters cycle through the
//! alphabet, so the seed's first-letter validation rule always finds pairs.

use std::collections::BTreeSet;

use rand::Rng;

/// Two first names per letter; some hyphenated, as LFW has (`Jean-Pierre_Raffarin`).
const FIRST: [[&str; 2]; 26] = [
    ["Ada", "Amir"],
    ["Bruno", "Bea"],
    ["Carla", "Chen"],
    ["Dmitri", "Dana"],
    ["Elena", "Emeka"],
    ["Farah", "Felix"],
    ["Greta", "Goran"],
    ["Hana", "Hugo"],
    ["Ines", "Ivan"],
    ["Jean-Paul", "Jia"],
    ["Kofi", "Kaia"],
    ["Lars", "Lucia"],
    ["Mei", "Mateo"],
    ["Nadia", "Nils"],
    ["Olga", "Omar"],
    ["Priya", "Pablo"],
    ["Quentin", "Qiu"],
    ["Rosa", "Rafael"],
    ["Sven", "Sofia"],
    ["Tomas", "Tara"],
    ["Ulla", "Umar"],
    ["Vera", "Viktor"],
    ["Wanda", "Wei"],
    ["Xavier", "Xenia"],
    ["Yusuf", "Yara"],
    ["Zora", "Zane"],
];

/// Surnames; some of several parts (`de_la_Cruz`) or hyphenated, to exercise the parser.
const LAST: [&str; 40] = [
    "Abbott",
    "Bauer",
    "Castillo",
    "de_la_Cruz",
    "Eriksen",
    "Fontaine",
    "Garcia-Lopez",
    "Haddad",
    "Ibsen",
    "Jensen",
    "Kowalski",
    "Larsen",
    "Moreau",
    "Nakamura",
    "Okafor",
    "Petrov",
    "Quinn",
    "Rossi",
    "Schmidt",
    "Tanaka",
    "Usman",
    "Van_Dyke",
    "Weber",
    "Xu",
    "Yilmaz",
    "Zimmermann",
    "Alvarez",
    "Brennan",
    "Chowdhury",
    "Dubois",
    "El_Amin",
    "Fischer",
    "Gallagher",
    "Horvath",
    "Iyer",
    "Jovanovic",
    "Kim",
    "Lindqvist",
    "Mbeki",
    "Novak",
];

/// The most names [`generate`] can make unique.
pub const MAX_NAMES: usize = 26 * 2 * LAST.len();

/// `count` distinct names; name `i` starts with letter `i % 26` (A, B, ..., Z, A, ...).
///
/// `count` must be at most [`MAX_NAMES`]; beyond that names would repeat, so the caller
/// validates it first.
pub fn generate(count: usize, rng: &mut impl Rng) -> Vec<String> {
    let mut taken = BTreeSet::new();
    let mut names = Vec::with_capacity(count);
    for i in 0..count {
        let firsts = FIRST[i % 26];
        let start = rng.gen_range(0..firsts.len() * LAST.len());
        // Walk every combination for this letter from a random start until one is free.
        let name = (0..firsts.len() * LAST.len())
            .map(|k| {
                let c = (start + k) % (firsts.len() * LAST.len());
                format!("{}_{}", firsts[c % firsts.len()], LAST[c / firsts.len()])
            })
            .find(|name| !taken.contains(name))
            .unwrap_or_else(|| format!("{}_{}_{i}", firsts[0], LAST[0]));
        taken.insert(name.clone());
        names.push(name);
    }
    names
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::data::{first_letter, ImageKey};

    #[test]
    fn names_are_unique_varied_and_parse_as_keys() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let names = generate(MAX_NAMES, &mut rng);
        let unique: BTreeSet<&String> = names.iter().collect();
        assert_eq!(unique.len(), MAX_NAMES);
        for (i, name) in names.iter().enumerate().take(52) {
            let expected = char::from(b'A' + (i % 26) as u8);
            assert_eq!(first_letter(name), Some(expected), "{name}");
            let key = ImageKey::from_file_name(&format!("{name}_0003.jpg"));
            assert_eq!(key, Some(ImageKey::new(name.as_str(), 3)));
        }
    }
}
