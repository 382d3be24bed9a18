"""The word lists synthetic dealer data is drawn from: names, Tokyo-area addresses, Lexus cars,
stores, insurers' and lease companies' names. Pure data.

Name pairs (kanji, kana, romaji) come from Faker's ja_JP provider, read once; Faker itself is
not called per row (about 60 µs a row: a minute for a million customers). A few surnames are
added in the variant characters real customers write (髙橋, 山﨑, 齋藤): the mail and import
paths must keep them intact (R29).
"""

from __future__ import annotations

from functools import cache

NamePair = tuple[str, str, str]  # kanji, katakana, romaji

EXTRA_LAST_NAMES: tuple[NamePair, ...] = (
    ("髙橋", "タカハシ", "Takahashi"),
    ("山﨑", "ヤマザキ", "Yamazaki"),
    ("齋藤", "サイトウ", "Saito"),
    ("渡邊", "ワタナベ", "Watanabe"),
    ("濱田", "ハマダ", "Hamada"),
    ("德永", "トクナガ", "Tokunaga"),
)


@cache
def names() -> tuple[tuple[NamePair, ...], tuple[NamePair, ...], tuple[NamePair, ...]]:
    """(last names, male first names, female first names), drawn from Faker once."""
    from faker.providers.person.ja_JP import Provider

    last = tuple(Provider.last_name_pairs) + EXTRA_LAST_NAMES
    return last, tuple(Provider.first_name_male_pairs), tuple(Provider.first_name_female_pairs)


# (prefecture, city, postal-code prefixes, towns, phone area code); lists space-separated
_AREAS = (
    ("東京都", "港区", "105 106 107 108", "南青山 赤坂 高輪 芝浦 白金台", "03"),
    ("東京都", "品川区", "140 141 142", "大崎 東品川 北品川 西五反田", "03"),
    ("東京都", "世田谷区", "154 155 156 157 158", "三軒茶屋 成城 用賀 等々力 奥沢", "03"),
    ("東京都", "目黒区", "152 153", "自由が丘 中目黒 八雲 碑文谷", "03"),
    ("東京都", "渋谷区", "150 151", "恵比寿 代々木 神宮前 広尾 松濤", "03"),
    ("東京都", "大田区", "143 144 145 146", "田園調布 蒲田 久が原 山王", "03"),
    ("東京都", "杉並区", "166 167 168", "荻窪 阿佐谷北 浜田山 永福", "03"),
    ("東京都", "練馬区", "176 177 178 179", "石神井町 光が丘 大泉学園町 豊玉北", "03"),
    ("東京都", "文京区", "112 113", "小石川 本郷 白山 千石", "03"),
    ("東京都", "新宿区", "160 161 162 169", "西新宿 市谷加賀町 下落合 神楽坂", "03"),
    ("東京都", "武蔵野市", "180", "吉祥寺本町 吉祥寺東町 中町 境南町", "0422"),
    ("東京都", "八王子市", "192 193", "明神町 元本郷町 南大沢 めじろ台", "042"),
    ("東京都", "町田市", "194 195", "原町田 玉川学園 成瀬 鶴川", "042"),
    ("神奈川県", "横浜市青葉区", "225 227", "美しが丘 青葉台 あざみ野 荏田西", "045"),
    ("神奈川県", "川崎市中原区", "211", "小杉町 新丸子町 木月 上小田中", "044"),
    ("埼玉県", "さいたま市浦和区", "330", "高砂 常盤 岸町 北浦和", "048"),
    ("千葉県", "浦安市", "279", "舞浜 美浜 入船 日の出", "047"),
)
AREAS: tuple[tuple[str, str, tuple[str, ...], tuple[str, ...], str], ...] = tuple(
    (p, c, tuple(codes.split()), tuple(towns.split()), a) for p, c, codes, towns, a in _AREAS
)

BUILDINGS = ("パークハウス", "ザ・タワー", "グランドメゾン", "ブリリア", "プラウド", "コート")

# (code, name, phone, address, closing ISO weekdays)
STORES: tuple[tuple[str, str, str, str, list[int]], ...] = (
    ("S01", "レクサス高輪", "03-5000-0101", "東京都港区高輪三丁目1番1号", [2]),
    ("S02", "レクサス品川", "03-5000-0102", "東京都品川区北品川五丁目2番2号", [2]),
    ("S03", "レクサス世田谷", "03-5000-0103", "東京都世田谷区用賀四丁目3番3号", [2, 3]),
    ("S04", "レクサス練馬", "03-5000-0104", "東京都練馬区豊玉北六丁目4番4号", [3]),
    ("S05", "レクサス吉祥寺", "0422-50-0105", "東京都武蔵野市中町一丁目5番5号", [2]),
    ("S06", "レクサス八王子", "042-650-0106", "東京都八王子市明神町二丁目6番6号", [2, 3]),
    ("S07", "レクサス小石川", "03-5000-0107", "東京都文京区小石川二丁目7番7号", [3]),
    ("S08", "レクサス目黒", "03-5000-0108", "東京都目黒区八雲一丁目8番8号", [2]),
)

# (car name, model codes, weight)
CARS: tuple[tuple[str, tuple[str, ...], int], ...] = (
    ("LS", ("VXFA50", "GVF50", "VXFA55"), 6),
    ("ES", ("AXZH10", "AXZH11"), 12),
    ("IS", ("ASE30", "AVE30", "GSE31"), 10),
    ("RX", ("TALH17", "AALH16", "TALA15", "GYL20W"), 22),
    ("NX", ("AAZH20", "AAZH25", "TAZA25", "AAZA20"), 24),
    ("UX", ("MZAH10", "MZAH15", "KMA10"), 9),
    ("LX", ("VJA310W", "URJ201W"), 5),
    ("LBX", ("MAYH10", "MAYH15"), 5),
    ("LM", ("TAWH15W",), 1),
    ("RZ", ("XEBM15",), 2),
    ("RC", ("ASC10", "AVC10", "GSC10"), 2),
    ("LC", ("URZ100", "GWZ100"), 2),
)

COLORS = (
    "ソニッククォーツ",
    "ホワイトノーヴァガラスフレーク",
    "グラファイトブラックガラスフレーク",
    "ブラック",
    "ソニックチタニウム",
    "ソニックイリジウム",
    "ソニックカッパー",
    "レッドマイカクリスタルシャイン",
    "テレーンカーキマイカメタリック",
    "セレスティアルブルーガラスフレーク",
    "ディープブルーマイカ",
)

PLATE_OFFICES = (
    "品川",
    "練馬",
    "足立",
    "世田谷",
    "杉並",
    "多摩",
    "八王子",
    "横浜",
    "川崎",
    "大宮",
    "習志野",
)
# Hiragana used on private cars (お, し, へ, ん are never used).
PLATE_KANA = "さすせそたちつてとなにぬねのはひふほまみむめもやゆらりるろ"
PLATE_CLASSES = ("300", "301", "302", "310", "330", "331", "338", "339", "360")

LEASE_COMPANIES = (
    "トヨタファイナンス株式会社",
    "住友三井オートサービス株式会社",
    "オリックス自動車株式会社",
)
CREDIT_COMPANIES = (
    "トヨタファイナンス株式会社",
    "株式会社ジャックス",
    "株式会社オリエントコーポレーション",
)

# Partners that data came from through 共同利用; the last is NOT in the policy's scope, so its
# customers exercise the gate's joint-use denial.
JOINT_USE_PARTNERS = (
    "トヨタモビリティ東京株式会社",
    "トヨタ S&D 西東京株式会社",
    "レクサス小石川販売株式会社",
    "株式会社サンプル自動車販売",
)

MAIL_DOMAINS = (
    ("gmail.com", 30),
    ("docomo.ne.jp", 14),
    ("ezweb.ne.jp", 9),
    ("softbank.ne.jp", 7),
    ("icloud.com", 16),
    ("yahoo.co.jp", 10),
    ("example.co.jp", 8),
    ("corp.example.jp", 6),
)

INSURERS = (("tokio_marine", 35), ("aioi_nissay_dowa", 30), ("mitsui_sumitomo", 35))

WELCAB_NOTES = (
    "車いす移乗のため助手席回転シートを希望",
    "聴覚に障がいがあり連絡はメールを希望",
    "腰の持病のため乗降補助が必要",
)
