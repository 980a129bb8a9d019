"""Every form of the dashboard is a FlaskForm, so every change carries a CSRF token."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField, SelectField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from model_service.followups import NOTE_MAX_LENGTH
from shared.i18n import LOCALES, locale_names
from shared.tasks import DEFAULT_TASK

FOLLOW_UP_ACTIONS: tuple[str, ...] = ("take", "note", "contacted", "resolved")


class SignInForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])


class SignOutForm(FlaskForm):
    pass


class LanguageForm(FlaskForm):
    locale = SelectField(
        choices=[SelectChoice(code, name) for code, name in locale_names(LOCALES).items()]
    )
    next = HiddenField()


class FollowUpForm(FlaskForm):
    """Take a case, add a note, or move it to contacted or resolved (one form, one button each)."""

    task = HiddenField(default=DEFAULT_TASK.name)
    action = SelectField(choices=[SelectChoice(action, action) for action in FOLLOW_UP_ACTIONS])
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=NOTE_MAX_LENGTH)])
