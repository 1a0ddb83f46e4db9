-- Nothing to do on SQLite, whose counter of billing writes (0028) tells an import what it needs to know. On
-- PostgreSQL this migration adds a log of the transactions that change parties and billing periods; the file
-- keeps the two backends' migrations numbered alike.
SELECT 1;
