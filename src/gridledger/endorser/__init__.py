"""The endorser service of an endorsing organization (notary office, judicial institution).

It follows the records that name its organization, opens the document delivered privately to
its node, checks the document's SHA-256 against the record's digest, and endorses the record or
refuses it on the ledger; records its policy marks ``manual`` wait in a review queue for a
person (``gridledger endorser queue / approve / reject``).
"""
