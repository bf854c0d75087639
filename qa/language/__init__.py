"""Questions in English over Chinese editions: CC-CEDICT both ways, the question language,
translate-test into Chinese terms, English renderings of answers, glossed dev questions."""
