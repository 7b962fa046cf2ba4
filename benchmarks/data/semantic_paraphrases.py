"""Hand-written paraphrase pairs (EN, DE, ZH) and EN/DE translations of one question."""

from __future__ import annotations

_EN = """
How do I reset my password? | How can I reset my password?
How do I reset my password? | What's the way to reset my password?
What is the capital of France? | Which city is the capital of France?
What is the capital of Japan? | Tell me the capital of Japan.
How do I cancel my subscription? | How can I cancel my subscription?
How do I cancel my subscription? | What are the steps to cancel my subscription?
How long does shipping take? | How long does shipping usually take?
Can I get a refund for my order? | Is it possible to get a refund for my order?
How do I update my billing address? | How can I change the billing address on my account?
What are your opening hours? | When are you open?
Explain what photosynthesis is. | Can you explain photosynthesis?
How do I convert Celsius to Fahrenheit? | What is the formula to convert Celsius to Fahrenheit?
What is the boiling point of water? | At what temperature does water boil?
Who wrote Romeo and Juliet? | Who is the author of Romeo and Juliet?
How do I delete my account? | How can I delete my account?
Summarize the causes of World War I. | Give me a summary of the causes of World War I.
How do I reverse a list in Python? | How can I reverse a list in Python?
What is the difference between a virus and a bacterium? | How does a virus differ from a bacterium?
How can I improve my sleep? | What can I do to improve my sleep?
Where can I track my package? | How do I track my package?
How do I enable two-factor authentication? | How can I turn on two-factor authentication?
What is the speed of light? | How fast does light travel?
How many days are in a leap year? | How many days does a leap year have?
What time is it in Tokyo? | What is the current time in Tokyo?
How do I make pancakes? | What is a good recipe for pancakes?
Is it safe to take ibuprofen with alcohol? | Is it safe to drink alcohol while taking ibuprofen?
Show me flights from Paris to London | Find flights from Paris to London
What is 17×23? | Calculate 17×23.
Convert 100 USD to EUR | How much is 100 USD in EUR?
What's the weather in Berlin today? | How is the weather in Berlin today?
How do I change my email address? | How can I update my email address?
What is machine learning? | Can you explain what machine learning is?
How do I sort a dictionary by value in Python? | How can I sort a Python dictionary by its values?
What are the symptoms of the flu? | What symptoms does the flu cause?
How do I install Python on Windows? | How can I install Python on Windows?
What is the tallest mountain in the world? | Which mountain is the tallest in the world?
How do I contact customer support? | How can I reach customer support?
Why is the sky blue? | What makes the sky blue?
How do I export my data? | How can I export my data?
How much does the premium plan cost? | What is the price of the premium plan?
How do I create a new branch in git? | How can I create a new git branch?
What does HTTP 404 mean? | What is the meaning of HTTP 404?
How do I center a div in CSS? | How can I center a div with CSS?
What is the population of Canada? | How many people live in Canada?
How do I clear my browser cache? | How can I clear the cache in my browser?
When was the Eiffel Tower built? | In which year was the Eiffel Tower built?
How do I pay my invoice? | How can I pay my invoice?
What is the return policy? | What is your return policy?
How do I change the language of the app? | How can I change the app language?
Which programming language should I learn first? | What programming language should I learn first?
What is a good name for a cat? | Suggest a good name for a cat.
How do I merge two PDF files? | How can I merge two PDFs?
What is the meaning of life? | What's the meaning of life?
How do I write a cover letter? | How should I write a cover letter?
How do I open a bank account? | What do I need to open a bank account?
Translate good morning into Spanish. | How do you say good morning in Spanish?
How do I set up a VPN? | How can I set up a VPN?
What causes inflation? | Why does inflation happen?
How do I remove a stain from a shirt? | How can I get a stain out of a shirt?
How many calories are in an apple? | How many calories does an apple have?
"""
_DE = """
Wie setze ich mein Passwort zurück? | Wie kann ich mein Passwort zurücksetzen?
Was ist die Hauptstadt von Frankreich? | Welche Stadt ist die Hauptstadt von Frankreich?
Wie kündige ich mein Abo? | Wie kann ich mein Abo kündigen?
Wie lange dauert der Versand? | Wie lange dauert der Versand normalerweise?
Kann ich eine Rückerstattung bekommen? | Ist eine Rückerstattung möglich?
Wie ändere ich meine Rechnungsadresse? | Wie kann ich meine Rechnungsadresse ändern?
Was sind Ihre Öffnungszeiten? | Wann haben Sie geöffnet?
Erkläre mir die Photosynthese. | Kannst du mir die Photosynthese erklären?
Wer hat Faust geschrieben? | Wer ist der Autor von Faust?
Wie lösche ich mein Konto? | Wie kann ich mein Konto löschen?
Wie verbessere ich meinen Schlaf? | Was kann ich tun, um meinen Schlaf zu verbessern?
Wo kann ich mein Paket verfolgen? | Wie kann ich mein Paket verfolgen?
Wie aktiviere ich die Zwei-Faktor-Anmeldung? | Wie kann ich die Zwei-Faktor-Anmeldung aktivieren?
Warum ist der Himmel blau? | Weshalb ist der Himmel blau?
Wie viele Tage hat ein Schaltjahr? | Wie viele Tage hat ein Schaltjahr eigentlich?
Wie installiere ich Python unter Windows? | Wie kann ich Python unter Windows installieren?
Was kostet der Premium-Tarif? | Wie viel kostet der Premium-Tarif?
Wie erreiche ich den Kundendienst? | Wie kann ich den Kundendienst erreichen?
Wie exportiere ich meine Daten? | Wie kann ich meine Daten exportieren?
Was ist maschinelles Lernen? | Kannst du erklären, was maschinelles Lernen ist?
Wie hoch ist der Eiffelturm? | Wie hoch ist eigentlich der Eiffelturm?
Wie bezahle ich meine Rechnung? | Wie kann ich meine Rechnung bezahlen?
Wie ändere ich die Sprache der App? | Wie kann ich die Sprache der App ändern?
Wie erstelle ich einen neuen Branch in Git? | Wie kann ich in Git einen neuen Branch erstellen?
Was bedeutet HTTP 404? | Was ist die Bedeutung von HTTP 404?
Wie entferne ich einen Fleck aus einem Hemd? | Wie bekomme ich einen Fleck aus einem Hemd?
Wie viele Kalorien hat ein Apfel? | Wie viele Kalorien sind in einem Apfel?
Wie eröffne ich ein Bankkonto? | Was brauche ich, um ein Bankkonto zu eröffnen?
Was ist die Rückgaberegelung? | Wie ist Ihre Rückgaberegelung?
Wie richte ich ein VPN ein? | Wie kann ich ein VPN einrichten?
Was verursacht Inflation? | Warum entsteht Inflation?
Wie schreibe ich ein Anschreiben? | Wie sollte ich ein Anschreiben schreiben?
Zeig mir Flüge von Berlin nach Wien | Finde Flüge von Berlin nach Wien
Rechne 100 USD in EUR um | Wie viel sind 100 USD in EUR?
Wie wird das Wetter heute in Hamburg? | Wie ist das Wetter heute in Hamburg?
Was ist 17 mal 23? | Berechne 17 mal 23.
Wie mache ich Pfannkuchen? | Wie backe ich Pfannkuchen?
Wie leere ich den Browser-Cache? | Wie kann ich den Cache im Browser leeren?
Welche Sprache soll ich zuerst lernen? | Welche Sprache sollte ich zuerst lernen?
Wie verbinde ich zwei PDF-Dateien? | Wie kann ich zwei PDF-Dateien zusammenführen?
"""
_ZH = """
如何重置我的密码？ | 我怎么重置我的密码？
法国的首都是哪里？ | 法国的首都是哪个城市？
如何取消我的订阅？ | 我怎么取消我的订阅？
运费需要多长时间？ | 运送需要多长时间？
如何删除我的账户？ | 我怎样删除我的账户？
为什么天空是蓝色的？ | 天空为什么是蓝色的？
如何联系客服？ | 我怎么联系客服？
如何导出我的数据？ | 我怎样导出我的数据？
"""
TRANSLATIONS = """
How do I reset my password? | Wie setze ich mein Passwort zurück?
What is the capital of France? | Was ist die Hauptstadt von Frankreich?
How do I cancel my subscription? | Wie kündige ich mein Abo?
How long does shipping take? | Wie lange dauert der Versand?
How do I delete my account? | Wie lösche ich mein Konto?
Why is the sky blue? | Warum ist der Himmel blau?
What is machine learning? | Was ist maschinelles Lernen?
How do I install Python on Windows? | Wie installiere ich Python unter Windows?
How do I export my data? | Wie exportiere ich meine Daten?
What does HTTP 404 mean? | Was bedeutet HTTP 404?
How many calories are in an apple? | Wie viele Kalorien hat ein Apfel?
How do I open a bank account? | Wie eröffne ich ein Bankkonto?
How do I reset my password? | 如何重置我的密码？
What is the capital of France? | 法国的首都是哪里？
Why is the sky blue? | 为什么天空是蓝色的？
How do I contact customer support? | 如何联系客服？
"""


def _pairs(block: str) -> list[tuple[str, str]]:
    """`a | b` lines as pairs."""
    out = []
    for line in block.strip().splitlines():
        a, b = (part.strip() for part in line.split("|"))
        out.append((a, b))
    return out


PARAPHRASES: list[tuple[str, str, str]] = [
    (lang, a, b)
    for lang, block in (("en", _EN), ("de", _DE), ("zh", _ZH))
    for a, b in _pairs(block)
]
TRANSLATION_PAIRS: list[tuple[str, str]] = _pairs(TRANSLATIONS)
