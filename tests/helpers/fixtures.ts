// Requests used across tests: the expense report (examples/expense-report.json, trimmed).
export const EXPENSE_REPORT = {
  title: "Expense report ER98765",
  requestId: "ER98765",
  requester: "Jane Doe <jane@example.com>",
  amount: 750.5,
  currency: "USD",
  link: "https://example.com/reports/ER98765",
  details: { transactions: [{ date: "2024-09-20", description: "Flight to New York", amount: 450 }] },
};
