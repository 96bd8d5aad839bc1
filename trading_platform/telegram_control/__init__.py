"""Operating bots from Telegram: commands, authorisation, confirmations, answers.

No Dagster here: ``orchestration/telegram_sensors.py`` calls :func:`poller.poll` from a
sensor tick.  ``parsing`` reads updates, ``handler`` decides what to answer, ``reports``
formats the read commands, ``control_api`` is the one door to ``trading_platform.control``
(the actions), ``confirmation`` signs the inline buttons, ``audit`` writes one receipt per
update, ``answers`` sends the results of force exits once.
"""
