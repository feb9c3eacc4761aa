-- Location data for the fake: real countries (ISO 3166-1 alpha-2, continent
-- codes as GeoIP uses them, Chinese names as the provider shows them), real
-- state/province codes (the part of ISO 3166-2 after the dash) and real cities.
-- One row per country: code, English name, Chinese name, continent, states;
-- one row per state: its code, then its cities.
return {
  { "US", "United States", "美国", "NA", {
    { "CA", "Los Angeles", "San Francisco", "San Diego", "San Jose" },
    { "NY", "New York", "Buffalo", "Rochester" },
    { "TX", "Houston", "Dallas", "Austin", "San Antonio" },
    { "FL", "Miami", "Orlando", "Tampa", "Jacksonville" },
    { "IL", "Chicago", "Naperville", "Springfield" },
    { "WA", "Seattle", "Spokane", "Tacoma" },
  } },
  { "CA", "Canada", "加拿大", "NA", {
    { "ON", "Toronto", "Ottawa", "Mississauga" },
    { "QC", "Montreal", "Quebec City", "Laval" },
    { "BC", "Vancouver", "Victoria", "Surrey" },
    { "AB", "Calgary", "Edmonton" },
  } },
  { "MX", "Mexico", "墨西哥", "NA", {
    { "CMX", "Mexico City" },
    { "JAL", "Guadalajara", "Zapopan" },
    { "NLE", "Monterrey", "San Nicolas de los Garza" },
  } },
  { "BR", "Brazil", "巴西", "SA", {
    { "SP", "Sao Paulo", "Campinas", "Santos" },
    { "RJ", "Rio de Janeiro", "Niteroi" },
    { "MG", "Belo Horizonte", "Uberlandia" },
  } },
  { "AR", "Argentina", "阿根廷", "SA", {
    { "C", "Buenos Aires" },
    { "B", "La Plata", "Mar del Plata" },
    { "X", "Cordoba" },
  } },
  { "GB", "United Kingdom", "英国", "EU", {
    { "ENG", "London", "Manchester", "Birmingham", "Liverpool" },
    { "SCT", "Edinburgh", "Glasgow" },
    { "WLS", "Cardiff", "Swansea" },
    { "NIR", "Belfast" },
  } },
  { "DE", "Germany", "德国", "EU", {
    { "BE", "Berlin" },
    { "BY", "Munich", "Nuremberg" },
    { "NW", "Cologne", "Dusseldorf", "Dortmund" },
    { "HE", "Frankfurt am Main", "Wiesbaden" },
    { "HH", "Hamburg" },
  } },
  { "FR", "France", "法国", "EU", {
    { "IDF", "Paris", "Boulogne-Billancourt" },
    { "ARA", "Lyon", "Grenoble" },
    { "PAC", "Marseille", "Nice" },
    { "OCC", "Toulouse", "Montpellier" },
  } },
  { "IT", "Italy", "意大利", "EU", {
    { "25", "Milan", "Bergamo" },
    { "62", "Rome" },
    { "72", "Naples" },
    { "21", "Turin" },
  } },
  { "ES", "Spain", "西班牙", "EU", {
    { "MD", "Madrid" },
    { "CT", "Barcelona" },
    { "AN", "Seville", "Malaga" },
    { "VC", "Valencia", "Alicante" },
  } },
  { "NL", "Netherlands", "荷兰", "EU", {
    { "NH", "Amsterdam", "Haarlem" },
    { "ZH", "Rotterdam", "The Hague" },
    { "UT", "Utrecht" },
  } },
  { "PL", "Poland", "波兰", "EU", {
    { "MZ", "Warsaw" },
    { "MA", "Krakow" },
    { "DS", "Wroclaw" },
    { "WP", "Poznan" },
  } },
  { "RU", "Russia", "俄罗斯", "EU", {
    { "MOW", "Moscow" },
    { "SPE", "Saint Petersburg" },
    { "NVS", "Novosibirsk" },
  } },
  { "TR", "Turkey", "土耳其", "AS", {
    { "34", "Istanbul" },
    { "06", "Ankara" },
    { "35", "Izmir" },
  } },
  { "JP", "Japan", "日本", "AS", {
    { "13", "Tokyo" },
    { "27", "Osaka" },
    { "14", "Yokohama", "Kawasaki" },
    { "23", "Nagoya" },
    { "01", "Sapporo" },
  } },
  { "KR", "South Korea", "韩国", "AS", {
    { "11", "Seoul" },
    { "26", "Busan" },
    { "41", "Suwon", "Seongnam" },
  } },
  { "IN", "India", "印度", "AS", {
    { "MH", "Mumbai", "Pune" },
    { "DL", "New Delhi" },
    { "KA", "Bengaluru", "Mysuru" },
    { "TN", "Chennai", "Coimbatore" },
  } },
  { "ID", "Indonesia", "印度尼西亚", "AS", {
    { "JK", "Jakarta" },
    { "JB", "Bandung", "Bekasi" },
    { "JI", "Surabaya" },
  } },
  { "TH", "Thailand", "泰国", "AS", {
    { "10", "Bangkok" },
    { "50", "Chiang Mai" },
    { "83", "Phuket" },
  } },
  { "VN", "Vietnam", "越南", "AS", {
    { "HN", "Hanoi" },
    { "SG", "Ho Chi Minh City" },
    { "DN", "Da Nang" },
  } },
  { "MY", "Malaysia", "马来西亚", "AS", {
    { "14", "Kuala Lumpur" },
    { "10", "Shah Alam", "Petaling Jaya" },
    { "07", "George Town" },
  } },
  { "AE", "United Arab Emirates", "阿联酋", "AS", {
    { "DU", "Dubai" },
    { "AZ", "Abu Dhabi" },
    { "SH", "Sharjah" },
  } },
  { "SA", "Saudi Arabia", "沙特阿拉伯", "AS", {
    { "01", "Riyadh" },
    { "02", "Jeddah", "Mecca" },
    { "04", "Dammam" },
  } },
  { "AU", "Australia", "澳大利亚", "OC", {
    { "NSW", "Sydney", "Newcastle" },
    { "VIC", "Melbourne", "Geelong" },
    { "QLD", "Brisbane", "Gold Coast" },
    { "WA", "Perth" },
  } },
  { "ZA", "South Africa", "南非", "AF", {
    { "GP", "Johannesburg", "Pretoria" },
    { "WC", "Cape Town" },
    { "KZN", "Durban" },
  } },
  { "NG", "Nigeria", "尼日利亚", "AF", {
    { "LA", "Lagos" },
    { "FC", "Abuja" },
    { "KN", "Kano" },
  } },
}
