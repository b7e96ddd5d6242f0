//! Country names and codes as sources write them, normalized to ISO 3166-1 alpha-2.
//!
//! OCSF's `location.country` is the alpha-2 code. Sources disagree: Entra ID and Defender send
//! codes, Okta sends English names ("United States", "Russia"), others alpha-3 codes. One KPI
//! label per country needs one spelling, so parsers store [`normalize`]d values.
//!
//! Invariants: a known code or name maps to its upper-case alpha-2 code (case- and
//! accent-insensitive for the listed spellings); a placeholder for "no country" ("Unknown",
//! "null", "--" …) is `None`; anything else is kept as given (trimmed), so an unknown spelling
//! is visible rather than lost. `XK` (Kosovo) is the user-assigned code the geolocation
//! databases use.
//!
//! The table comes from the Debian `iso-codes` package (ISO 3166-1: name, alpha-3, common and
//! official names) plus the spellings geolocation databases use.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::OnceLock;

/// (alpha-2, other spellings)
const COUNTRIES: &[(&str, &[&str])] = &[
    ("AD", &["Andorra", "AND", "Principality of Andorra"]),
    ("AE", &["United Arab Emirates", "ARE"]),
    (
        "AF",
        &["Afghanistan", "AFG", "Islamic Republic of Afghanistan"],
    ),
    ("AG", &["Antigua and Barbuda", "ATG"]),
    ("AI", &["Anguilla", "AIA"]),
    ("AL", &["Albania", "ALB", "Republic of Albania"]),
    ("AM", &["Armenia", "ARM", "Republic of Armenia"]),
    ("AO", &["Angola", "AGO", "Republic of Angola"]),
    ("AQ", &["Antarctica", "ATA"]),
    ("AR", &["Argentina", "ARG", "Argentine Republic"]),
    ("AS", &["American Samoa", "ASM"]),
    ("AT", &["Austria", "AUT", "Republic of Austria"]),
    ("AU", &["Australia", "AUS"]),
    ("AW", &["Aruba", "ABW"]),
    ("AX", &["Åland Islands", "ALA", "Aland", "Aland Islands"]),
    ("AZ", &["Azerbaijan", "AZE", "Republic of Azerbaijan"]),
    (
        "BA",
        &[
            "Bosnia and Herzegovina",
            "BIH",
            "Republic of Bosnia and Herzegovina",
        ],
    ),
    ("BB", &["Barbados", "BRB"]),
    (
        "BD",
        &["Bangladesh", "BGD", "People's Republic of Bangladesh"],
    ),
    ("BE", &["Belgium", "BEL", "Kingdom of Belgium"]),
    ("BF", &["Burkina Faso", "BFA"]),
    ("BG", &["Bulgaria", "BGR", "Republic of Bulgaria"]),
    ("BH", &["Bahrain", "BHR", "Kingdom of Bahrain"]),
    ("BI", &["Burundi", "BDI", "Republic of Burundi"]),
    ("BJ", &["Benin", "BEN", "Republic of Benin"]),
    (
        "BL",
        &[
            "Saint Barthélemy",
            "BLM",
            "Saint Barthelemy",
            "St Barthelemy",
        ],
    ),
    ("BM", &["Bermuda", "BMU"]),
    ("BN", &["Brunei Darussalam", "BRN", "Brunei"]),
    (
        "BO",
        &[
            "Bolivia, Plurinational State of",
            "BOL",
            "Bolivia",
            "Plurinational State of Bolivia",
        ],
    ),
    (
        "BQ",
        &[
            "Bonaire, Sint Eustatius and Saba",
            "BES",
            "Bonaire",
            "Caribbean Netherlands",
        ],
    ),
    ("BR", &["Brazil", "BRA", "Federative Republic of Brazil"]),
    ("BS", &["Bahamas", "BHS", "Commonwealth of the Bahamas"]),
    ("BT", &["Bhutan", "BTN", "Kingdom of Bhutan"]),
    ("BV", &["Bouvet Island", "BVT"]),
    ("BW", &["Botswana", "BWA", "Republic of Botswana"]),
    ("BY", &["Belarus", "BLR", "Republic of Belarus"]),
    ("BZ", &["Belize", "BLZ"]),
    ("CA", &["Canada", "CAN"]),
    ("CC", &["Cocos (Keeling) Islands", "CCK"]),
    (
        "CD",
        &[
            "Congo, The Democratic Republic of the",
            "COD",
            "DR Congo",
            "Democratic Republic of the Congo",
            "Congo, Democratic Republic of the",
        ],
    ),
    ("CF", &["Central African Republic", "CAF"]),
    (
        "CG",
        &[
            "Congo",
            "COG",
            "Republic of the Congo",
            "Congo Republic",
            "Republic of Congo",
        ],
    ),
    ("CH", &["Switzerland", "CHE", "Swiss Confederation"]),
    (
        "CI",
        &[
            "Côte d'Ivoire",
            "CIV",
            "Republic of Côte d'Ivoire",
            "Ivory Coast",
            "Cote d'Ivoire",
        ],
    ),
    ("CK", &["Cook Islands", "COK"]),
    ("CL", &["Chile", "CHL", "Republic of Chile"]),
    ("CM", &["Cameroon", "CMR", "Republic of Cameroon"]),
    (
        "CN",
        &[
            "China",
            "CHN",
            "People's Republic of China",
            "China, People's Republic of",
        ],
    ),
    ("CO", &["Colombia", "COL", "Republic of Colombia"]),
    ("CR", &["Costa Rica", "CRI", "Republic of Costa Rica"]),
    ("CU", &["Cuba", "CUB", "Republic of Cuba"]),
    (
        "CV",
        &["Cabo Verde", "CPV", "Republic of Cabo Verde", "Cape Verde"],
    ),
    ("CW", &["Curaçao", "CUW", "Curacao"]),
    ("CX", &["Christmas Island", "CXR"]),
    ("CY", &["Cyprus", "CYP", "Republic of Cyprus"]),
    ("CZ", &["Czechia", "CZE", "Czech Republic"]),
    ("DE", &["Germany", "DEU", "Federal Republic of Germany"]),
    ("DJ", &["Djibouti", "DJI", "Republic of Djibouti"]),
    ("DK", &["Denmark", "DNK", "Kingdom of Denmark"]),
    ("DM", &["Dominica", "DMA", "Commonwealth of Dominica"]),
    ("DO", &["Dominican Republic", "DOM"]),
    (
        "DZ",
        &["Algeria", "DZA", "People's Democratic Republic of Algeria"],
    ),
    ("EC", &["Ecuador", "ECU", "Republic of Ecuador"]),
    ("EE", &["Estonia", "EST", "Republic of Estonia"]),
    ("EG", &["Egypt", "EGY", "Arab Republic of Egypt"]),
    ("EH", &["Western Sahara", "ESH"]),
    ("ER", &["Eritrea", "ERI", "the State of Eritrea"]),
    ("ES", &["Spain", "ESP", "Kingdom of Spain"]),
    (
        "ET",
        &["Ethiopia", "ETH", "Federal Democratic Republic of Ethiopia"],
    ),
    ("FI", &["Finland", "FIN", "Republic of Finland"]),
    ("FJ", &["Fiji", "FJI", "Republic of Fiji"]),
    (
        "FK",
        &["Falkland Islands (Malvinas)", "FLK", "Falkland Islands"],
    ),
    (
        "FM",
        &[
            "Micronesia, Federated States of",
            "FSM",
            "Federated States of Micronesia",
            "Micronesia",
        ],
    ),
    ("FO", &["Faroe Islands", "FRO"]),
    ("FR", &["France", "FRA", "French Republic"]),
    ("GA", &["Gabon", "GAB", "Gabonese Republic"]),
    (
        "GB",
        &[
            "United Kingdom",
            "GBR",
            "United Kingdom of Great Britain and Northern Ireland",
            "UK",
            "Great Britain",
            "England",
            "Scotland",
            "Wales",
            "Northern Ireland",
        ],
    ),
    ("GD", &["Grenada", "GRD"]),
    ("GE", &["Georgia", "GEO"]),
    ("GF", &["French Guiana", "GUF"]),
    ("GG", &["Guernsey", "GGY"]),
    ("GH", &["Ghana", "GHA", "Republic of Ghana"]),
    ("GI", &["Gibraltar", "GIB"]),
    ("GL", &["Greenland", "GRL"]),
    ("GM", &["Gambia", "GMB", "Republic of the Gambia"]),
    ("GN", &["Guinea", "GIN", "Republic of Guinea"]),
    ("GP", &["Guadeloupe", "GLP"]),
    (
        "GQ",
        &["Equatorial Guinea", "GNQ", "Republic of Equatorial Guinea"],
    ),
    ("GR", &["Greece", "GRC", "Hellenic Republic"]),
    (
        "GS",
        &["South Georgia and the South Sandwich Islands", "SGS"],
    ),
    ("GT", &["Guatemala", "GTM", "Republic of Guatemala"]),
    ("GU", &["Guam", "GUM"]),
    ("GW", &["Guinea-Bissau", "GNB", "Republic of Guinea-Bissau"]),
    ("GY", &["Guyana", "GUY", "Republic of Guyana"]),
    (
        "HK",
        &[
            "Hong Kong",
            "HKG",
            "Hong Kong Special Administrative Region of China",
        ],
    ),
    (
        "HM",
        &[
            "Heard Island and McDonald Islands",
            "HMD",
            "Heard and McDonald Islands",
        ],
    ),
    ("HN", &["Honduras", "HND", "Republic of Honduras"]),
    ("HR", &["Croatia", "HRV", "Republic of Croatia"]),
    ("HT", &["Haiti", "HTI", "Republic of Haiti"]),
    ("HU", &["Hungary", "HUN"]),
    ("ID", &["Indonesia", "IDN", "Republic of Indonesia"]),
    ("IE", &["Ireland", "IRL"]),
    ("IL", &["Israel", "ISR", "State of Israel"]),
    ("IM", &["Isle of Man", "IMN"]),
    ("IN", &["India", "IND", "Republic of India"]),
    ("IO", &["British Indian Ocean Territory", "IOT"]),
    ("IQ", &["Iraq", "IRQ", "Republic of Iraq"]),
    (
        "IR",
        &[
            "Iran, Islamic Republic of",
            "IRN",
            "Iran",
            "Islamic Republic of Iran",
        ],
    ),
    ("IS", &["Iceland", "ISL", "Republic of Iceland"]),
    ("IT", &["Italy", "ITA", "Italian Republic"]),
    ("JE", &["Jersey", "JEY"]),
    ("JM", &["Jamaica", "JAM"]),
    ("JO", &["Jordan", "JOR", "Hashemite Kingdom of Jordan"]),
    ("JP", &["Japan", "JPN"]),
    ("KE", &["Kenya", "KEN", "Republic of Kenya"]),
    ("KG", &["Kyrgyzstan", "KGZ", "Kyrgyz Republic"]),
    ("KH", &["Cambodia", "KHM", "Kingdom of Cambodia"]),
    ("KI", &["Kiribati", "KIR", "Republic of Kiribati"]),
    ("KM", &["Comoros", "COM", "Union of the Comoros"]),
    (
        "KN",
        &[
            "Saint Kitts and Nevis",
            "KNA",
            "St Kitts and Nevis",
            "St. Kitts and Nevis",
        ],
    ),
    (
        "KP",
        &[
            "Korea, Democratic People's Republic of",
            "PRK",
            "North Korea",
            "Democratic People's Republic of Korea",
        ],
    ),
    (
        "KR",
        &[
            "Korea, Republic of",
            "KOR",
            "South Korea",
            "Korea",
            "Republic of Korea",
        ],
    ),
    ("KW", &["Kuwait", "KWT", "State of Kuwait"]),
    ("KY", &["Cayman Islands", "CYM"]),
    ("KZ", &["Kazakhstan", "KAZ", "Republic of Kazakhstan"]),
    ("LA", &["Lao People's Democratic Republic", "LAO", "Laos"]),
    ("LB", &["Lebanon", "LBN", "Lebanese Republic"]),
    ("LC", &["Saint Lucia", "LCA", "St Lucia", "St. Lucia"]),
    (
        "LI",
        &["Liechtenstein", "LIE", "Principality of Liechtenstein"],
    ),
    (
        "LK",
        &[
            "Sri Lanka",
            "LKA",
            "Democratic Socialist Republic of Sri Lanka",
        ],
    ),
    ("LR", &["Liberia", "LBR", "Republic of Liberia"]),
    ("LS", &["Lesotho", "LSO", "Kingdom of Lesotho"]),
    ("LT", &["Lithuania", "LTU", "Republic of Lithuania"]),
    ("LU", &["Luxembourg", "LUX", "Grand Duchy of Luxembourg"]),
    ("LV", &["Latvia", "LVA", "Republic of Latvia"]),
    ("LY", &["Libya", "LBY"]),
    ("MA", &["Morocco", "MAR", "Kingdom of Morocco"]),
    ("MC", &["Monaco", "MCO", "Principality of Monaco"]),
    (
        "MD",
        &[
            "Moldova, Republic of",
            "MDA",
            "Moldova",
            "Republic of Moldova",
        ],
    ),
    ("ME", &["Montenegro", "MNE"]),
    (
        "MF",
        &[
            "Saint Martin (French part)",
            "MAF",
            "Saint Martin",
            "St Martin",
        ],
    ),
    ("MG", &["Madagascar", "MDG", "Republic of Madagascar"]),
    (
        "MH",
        &[
            "Marshall Islands",
            "MHL",
            "Republic of the Marshall Islands",
        ],
    ),
    (
        "MK",
        &[
            "North Macedonia",
            "MKD",
            "Republic of North Macedonia",
            "Macedonia",
        ],
    ),
    ("ML", &["Mali", "MLI", "Republic of Mali"]),
    ("MM", &["Myanmar", "MMR", "Republic of Myanmar", "Burma"]),
    ("MN", &["Mongolia", "MNG"]),
    (
        "MO",
        &[
            "Macao",
            "MAC",
            "Macao Special Administrative Region of China",
            "Macau",
        ],
    ),
    (
        "MP",
        &[
            "Northern Mariana Islands",
            "MNP",
            "Commonwealth of the Northern Mariana Islands",
        ],
    ),
    ("MQ", &["Martinique", "MTQ"]),
    (
        "MR",
        &["Mauritania", "MRT", "Islamic Republic of Mauritania"],
    ),
    ("MS", &["Montserrat", "MSR"]),
    ("MT", &["Malta", "MLT", "Republic of Malta"]),
    ("MU", &["Mauritius", "MUS", "Republic of Mauritius"]),
    ("MV", &["Maldives", "MDV", "Republic of Maldives"]),
    ("MW", &["Malawi", "MWI", "Republic of Malawi"]),
    ("MX", &["Mexico", "MEX", "United Mexican States"]),
    ("MY", &["Malaysia", "MYS"]),
    ("MZ", &["Mozambique", "MOZ", "Republic of Mozambique"]),
    ("NA", &["Namibia", "NAM", "Republic of Namibia"]),
    ("NC", &["New Caledonia", "NCL"]),
    ("NE", &["Niger", "NER", "Republic of the Niger"]),
    ("NF", &["Norfolk Island", "NFK"]),
    ("NG", &["Nigeria", "NGA", "Federal Republic of Nigeria"]),
    ("NI", &["Nicaragua", "NIC", "Republic of Nicaragua"]),
    (
        "NL",
        &[
            "Netherlands",
            "NLD",
            "Kingdom of the Netherlands",
            "The Netherlands",
            "Holland",
        ],
    ),
    ("NO", &["Norway", "NOR", "Kingdom of Norway"]),
    (
        "NP",
        &["Nepal", "NPL", "Federal Democratic Republic of Nepal"],
    ),
    ("NR", &["Nauru", "NRU", "Republic of Nauru"]),
    ("NU", &["Niue", "NIU"]),
    ("NZ", &["New Zealand", "NZL"]),
    ("OM", &["Oman", "OMN", "Sultanate of Oman"]),
    ("PA", &["Panama", "PAN", "Republic of Panama"]),
    ("PE", &["Peru", "PER", "Republic of Peru"]),
    ("PF", &["French Polynesia", "PYF"]),
    (
        "PG",
        &[
            "Papua New Guinea",
            "PNG",
            "Independent State of Papua New Guinea",
        ],
    ),
    ("PH", &["Philippines", "PHL", "Republic of the Philippines"]),
    ("PK", &["Pakistan", "PAK", "Islamic Republic of Pakistan"]),
    ("PL", &["Poland", "POL", "Republic of Poland"]),
    (
        "PM",
        &["Saint Pierre and Miquelon", "SPM", "St Pierre and Miquelon"],
    ),
    ("PN", &["Pitcairn", "PCN"]),
    ("PR", &["Puerto Rico", "PRI"]),
    (
        "PS",
        &[
            "Palestine, State of",
            "PSE",
            "the State of Palestine",
            "Palestine",
        ],
    ),
    ("PT", &["Portugal", "PRT", "Portuguese Republic"]),
    ("PW", &["Palau", "PLW", "Republic of Palau"]),
    ("PY", &["Paraguay", "PRY", "Republic of Paraguay"]),
    ("QA", &["Qatar", "QAT", "State of Qatar"]),
    ("RE", &["Réunion", "REU", "Reunion"]),
    ("RO", &["Romania", "ROU"]),
    ("RS", &["Serbia", "SRB", "Republic of Serbia"]),
    ("RU", &["Russian Federation", "RUS", "Russia"]),
    ("RW", &["Rwanda", "RWA", "Rwandese Republic"]),
    ("SA", &["Saudi Arabia", "SAU", "Kingdom of Saudi Arabia"]),
    ("SB", &["Solomon Islands", "SLB"]),
    ("SC", &["Seychelles", "SYC", "Republic of Seychelles"]),
    ("SD", &["Sudan", "SDN", "Republic of the Sudan"]),
    ("SE", &["Sweden", "SWE", "Kingdom of Sweden"]),
    ("SG", &["Singapore", "SGP", "Republic of Singapore"]),
    (
        "SH",
        &[
            "Saint Helena, Ascension and Tristan da Cunha",
            "SHN",
            "Saint Helena",
        ],
    ),
    ("SI", &["Slovenia", "SVN", "Republic of Slovenia"]),
    ("SJ", &["Svalbard and Jan Mayen", "SJM"]),
    ("SK", &["Slovakia", "SVK", "Slovak Republic"]),
    ("SL", &["Sierra Leone", "SLE", "Republic of Sierra Leone"]),
    ("SM", &["San Marino", "SMR", "Republic of San Marino"]),
    ("SN", &["Senegal", "SEN", "Republic of Senegal"]),
    ("SO", &["Somalia", "SOM", "Federal Republic of Somalia"]),
    ("SR", &["Suriname", "SUR", "Republic of Suriname"]),
    ("SS", &["South Sudan", "SSD", "Republic of South Sudan"]),
    (
        "ST",
        &[
            "Sao Tome and Principe",
            "STP",
            "Democratic Republic of Sao Tome and Principe",
        ],
    ),
    ("SV", &["El Salvador", "SLV", "Republic of El Salvador"]),
    ("SX", &["Sint Maarten (Dutch part)", "SXM", "Sint Maarten"]),
    ("SY", &["Syrian Arab Republic", "SYR", "Syria"]),
    (
        "SZ",
        &["Eswatini", "SWZ", "Kingdom of Eswatini", "Swaziland"],
    ),
    ("TC", &["Turks and Caicos Islands", "TCA"]),
    ("TD", &["Chad", "TCD", "Republic of Chad"]),
    ("TF", &["French Southern Territories", "ATF"]),
    ("TG", &["Togo", "TGO", "Togolese Republic"]),
    ("TH", &["Thailand", "THA", "Kingdom of Thailand"]),
    ("TJ", &["Tajikistan", "TJK", "Republic of Tajikistan"]),
    ("TK", &["Tokelau", "TKL"]),
    (
        "TL",
        &[
            "Timor-Leste",
            "TLS",
            "Democratic Republic of Timor-Leste",
            "East Timor",
            "Timor Leste",
        ],
    ),
    ("TM", &["Turkmenistan", "TKM"]),
    ("TN", &["Tunisia", "TUN", "Republic of Tunisia"]),
    ("TO", &["Tonga", "TON", "Kingdom of Tonga"]),
    ("TR", &["Türkiye", "TUR", "Republic of Türkiye", "Turkey"]),
    (
        "TT",
        &[
            "Trinidad and Tobago",
            "TTO",
            "Republic of Trinidad and Tobago",
        ],
    ),
    ("TV", &["Tuvalu", "TUV"]),
    ("TW", &["Taiwan, Province of China", "TWN", "Taiwan"]),
    (
        "TZ",
        &[
            "Tanzania, United Republic of",
            "TZA",
            "Tanzania",
            "United Republic of Tanzania",
        ],
    ),
    ("UA", &["Ukraine", "UKR"]),
    ("UG", &["Uganda", "UGA", "Republic of Uganda"]),
    (
        "UM",
        &[
            "United States Minor Outlying Islands",
            "UMI",
            "U.S. Outlying Islands",
        ],
    ),
    (
        "US",
        &["United States", "USA", "United States of America", "U.S."],
    ),
    ("UY", &["Uruguay", "URY", "Eastern Republic of Uruguay"]),
    ("UZ", &["Uzbekistan", "UZB", "Republic of Uzbekistan"]),
    (
        "VA",
        &[
            "Holy See (Vatican City State)",
            "VAT",
            "Vatican City",
            "Holy See",
        ],
    ),
    (
        "VC",
        &[
            "Saint Vincent and the Grenadines",
            "VCT",
            "St Vincent and Grenadines",
            "St. Vincent and the Grenadines",
        ],
    ),
    (
        "VE",
        &[
            "Venezuela, Bolivarian Republic of",
            "VEN",
            "Venezuela",
            "Bolivarian Republic of Venezuela",
        ],
    ),
    (
        "VG",
        &["Virgin Islands, British", "VGB", "British Virgin Islands"],
    ),
    (
        "VI",
        &[
            "Virgin Islands, U.S.",
            "VIR",
            "Virgin Islands of the United States",
            "U.S. Virgin Islands",
            "US Virgin Islands",
        ],
    ),
    (
        "VN",
        &[
            "Viet Nam",
            "VNM",
            "Vietnam",
            "Socialist Republic of Viet Nam",
        ],
    ),
    ("VU", &["Vanuatu", "VUT", "Republic of Vanuatu"]),
    ("WF", &["Wallis and Futuna", "WLF"]),
    ("WS", &["Samoa", "WSM", "Independent State of Samoa"]),
    ("YE", &["Yemen", "YEM", "Republic of Yemen"]),
    ("YT", &["Mayotte", "MYT"]),
    ("ZA", &["South Africa", "ZAF", "Republic of South Africa"]),
    ("ZM", &["Zambia", "ZMB", "Republic of Zambia"]),
    ("ZW", &["Zimbabwe", "ZWE", "Republic of Zimbabwe"]),
    ("XK", &["Kosovo", "XKX"]),
];

fn fold(text: &str) -> String {
    text.trim()
        .chars()
        .map(|c| match c {
            'á' | 'à' | 'â' | 'ä' | 'ã' | 'å' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'í' | 'ì' | 'î' | 'ï' => 'i',
            'ó' | 'ò' | 'ô' | 'ö' | 'õ' => 'o',
            'ú' | 'ù' | 'û' | 'ü' => 'u',
            'ç' => 'c',
            'ñ' => 'n',
            '’' => '\'',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

fn index() -> &'static HashMap<String, &'static str> {
    static INDEX: OnceLock<HashMap<String, &'static str>> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut map = HashMap::new();
        for (code, names) in COUNTRIES {
            map.insert(fold(code), *code);
            for name in *names {
                map.insert(fold(name), *code);
            }
        }
        map
    })
}

/// The ISO 3166-1 alpha-2 code of a country code or name; `None` when unknown.
pub fn iso_code(text: &str) -> Option<&'static str> {
    index().get(&fold(text)).copied()
}

/// What geolocation sources write where they have no country. Not "NA": that is Namibia.
const NO_COUNTRY: &[&str] = &[
    "unknown",
    "null",
    "none",
    "nil",
    "undefined",
    "n/a",
    "-",
    "--",
    "?",
];

/// The value to store for a country: its alpha-2 code when known, else the text as given
/// (trimmed); `None` for empty input and for placeholders that name no country.
pub fn normalize(text: Cow<'_, str>) -> Option<Cow<'_, str>> {
    let trimmed = text.trim();
    if trimmed.is_empty() || NO_COUNTRY.iter().any(|p| p.eq_ignore_ascii_case(trimmed)) {
        return None;
    }
    // Fast path, no allocation: most sources already send an upper-case alpha-2 code.
    if let Some((code, _)) = COUNTRIES.iter().find(|(code, _)| *code == trimmed) {
        return Some(Cow::Borrowed(code));
    }
    if let Some(code) = iso_code(trimmed) {
        return Some(Cow::Borrowed(code));
    }
    if trimmed.len() == text.len() {
        return Some(text);
    }
    Some(Cow::Owned(trimmed.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_names_map_to_alpha_2() {
        for (input, code) in [
            ("US", "US"),
            ("us", "US"),
            ("United States", "US"),
            ("USA", "US"),
            ("Germany", "DE"),
            ("DEU", "DE"),
            ("Russia", "RU"),
            ("Russian Federation", "RU"),
            ("South Korea", "KR"),
            ("Türkiye", "TR"),
            ("Turkey", "TR"),
            ("Côte d'Ivoire", "CI"),
            ("Cote d’Ivoire", "CI"),
            ("  brazil ", "BR"),
            ("United Kingdom", "GB"),
            ("UK", "GB"),
            ("Kosovo", "XK"),
        ] {
            assert_eq!(iso_code(input), Some(code), "{input}");
        }
        assert_eq!(iso_code("Atlantis"), None);
        assert_eq!(normalize("Atlantis".into()).as_deref(), Some("Atlantis"));
        assert_eq!(normalize(" Atlantis ".into()).as_deref(), Some("Atlantis"));
        assert_eq!(normalize(" ".into()), None);
        for placeholder in ["Unknown", "null", "--", "N/A"] {
            assert_eq!(normalize(placeholder.into()), None, "{placeholder}");
        }
        assert_eq!(normalize("NA".into()).as_deref(), Some("NA"));
        assert_eq!(normalize("Netherlands".into()).as_deref(), Some("NL"));
    }

    #[test]
    fn every_code_is_two_upper_case_letters_and_listed_once() {
        let mut seen = std::collections::BTreeSet::new();
        for (code, _) in COUNTRIES {
            assert!(code.len() == 2 && code.chars().all(|c| c.is_ascii_uppercase()));
            assert!(seen.insert(*code), "{code} twice");
        }
        assert_eq!(seen.len(), 250);
    }
}
