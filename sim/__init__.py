"""The simulators the demo and the tests use in place of outside systems: the SimPay card PSP and
an MT5-style trading platform. Installed in the demo and test settings only, never in production;
the back office reaches them only through its protocols (``payments.providers``,
``accounts.platform``), chosen by settings."""
