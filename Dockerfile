# Production image: the web (gunicorn), the Celery worker and beat all run from it.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
RUN useradd --system --create-home app
COPY pyproject.toml requirements.lock ./
COPY . .
RUN pip install --no-cache-dir -c requirements.lock . \
 && DATABASE_URL=postgres://build@localhost/build DJANGO_SETTINGS_MODULE=backoffice.settings.dev \
    python manage.py collectstatic --no-input -v 0
USER app
EXPOSE 8000
CMD ["gunicorn", "backoffice.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "4", "--access-logfile", "-"]
