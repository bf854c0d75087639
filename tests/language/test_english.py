"""English renderings of short answers: amounts, dates, dictionary glosses."""

from __future__ import annotations

import pytest

from qa.language.english import english_rendering, gloss, render_amount, render_date


@pytest.mark.parametrize("span, english", [
    ("4公里", "4 km"),
    ("3.32平方公里", "3.32 km²"),
    ("3.32 平方公里", "3.32 km²"),
    ("950平方米", "950 m²"),
    ("4.78亿元", "478 million yuan"),
    ("236.5亿元", "23.65 billion yuan"),
    ("600万元", "6 million yuan"),
    ("近10000人", "nearly 10,000 people"),
    ("1万人", "10,000 people"),
    ("10.2%", "10.2%"),
    ("200多家", "over 200 companies"),
])
def test_amounts(span, english):
    assert render_amount(span) == english


@pytest.mark.parametrize("span", ["公里", "4公里多长", "义乌", "4.78", ""])
def test_not_amounts(span):
    assert render_amount(span) == ""


@pytest.mark.parametrize("span, english", [
    ("2020年11月14日", "14 November 2020"),
    ("2015年9月", "September 2015"),
    ("11月13日", "13 November"),
    ("2020年", "2020"),
])
def test_dates(span, english):
    assert render_date(span) == english


@pytest.mark.parametrize("span", ["13月1日", "2020年2月40日", "14日", "第四批"])
def test_not_dates(span):
    assert render_date(span) == ""


def test_gloss_words_not_names():
    assert gloss("俄罗斯") == "Russia"
    assert gloss("植物园") == "botanical garden"
    assert gloss("义乌") == "Yiwu"  # the note "county level city in Jinhua 金華|金华[...]" cut
    assert gloss("川崎晴朗") == ""  # a name is not glossed word by word
    assert gloss("许竣哲") == ""
    assert gloss("由律师、会计师和税务师组成的服务团为企业提供法律咨询") == ""  # too long


def test_rendering_prefers_the_mechanical_form_and_labels_a_gloss():
    assert english_rendering("4公里") == "4 km"
    assert english_rendering("俄罗斯") == "Russia (dictionary gloss)"
    assert english_rendering("王健、骆小俊") == ""
