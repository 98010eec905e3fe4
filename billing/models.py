# Tariffs, the PRO subscription, the wallet ledger, cards and invoices arrive with the billing issue.
